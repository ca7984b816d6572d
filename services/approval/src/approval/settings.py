"""Settings of the approval service (`CONFORMITY_*` variables); the rules' defaults are DESIGN.md's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from conformity_shared.settings import ServiceSettings


class WorkingDayCalendarRecord(BaseModel):
    """One year's working-day calendar as a regulator gives it (the shipped files have the same shape):
    every day off, every weekend day worked instead (调休上班), and the notice they come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int
    holidays: list[dt.date] = Field(default_factory=list, description="every day off, weekend days inside a holiday included")
    working_days: list[dt.date] = Field(default_factory=list, description="weekend days worked instead (调休上班)")
    source: str = Field(description="the notice the days come from, e.g. its title, number, date and address")


class ApprovalSettings(ServiceSettings):
    service_name: str = "approval"
    min_staff_per_field: int = 10
    min_registered_capital_rmb: int = 3_000_000
    lab_min_staff_per_field: int = 1
    high_risk_refuses_commitment: bool = True
    standard_decision_working_days: int = 20
    verification_days: int = 90
    working_day_calendars: list[WorkingDayCalendarRecord] = Field(
        default_factory=list,
        description="years' calendars added to the shipped ones, or replacing a shipped year: "
        '[{"year", "holidays", "working_days", "source"}]',
    )
    working_day_calendar_dir: Path | None = Field(
        default=None, description="a directory whose *.toml and *.json files are one year's calendar each"
    )
    public_holidays: list[dt.date] = Field(
        default_factory=list, description="extra days off, each added to its year's calendar (which must be loaded)"
    )
    adjusted_working_days: list[dt.date] = Field(
        default_factory=list,
        description="extra weekend days worked (调休), each added to its year's calendar (which must be loaded)",
    )
    catalogue_fields: list[dict[str, Any]] = Field(
        default_factory=list,
        description='fields added to, or replacing, the default catalogue: [{"code", "name", "risk", "kind", '
        '"schemes"}] (schemes: those a certification field admits, none for a test field)',
    )
