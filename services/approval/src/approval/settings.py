"""Settings of the approval service (`CONFORMITY_*` variables); the rules' defaults are DESIGN.md's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from conformity_shared.settings import ServiceSettings


class ApprovalSettings(ServiceSettings):
    service_name: str = "approval"
    min_staff_per_field: int = 10
    min_registered_capital_rmb: int = 3_000_000
    lab_min_staff_per_field: int = 1
    high_risk_refuses_commitment: bool = True
    standard_decision_working_days: int = 20
    verification_days: int = 90
    public_holidays: list[dt.date] = Field(default_factory=list, description="extra non-working days")
    adjusted_working_days: list[dt.date] = Field(
        default_factory=list, description="weekend days that are worked (调休), beyond the built-in ones"
    )
    catalogue_fields: list[dict[str, Any]] = Field(
        default_factory=list,
        description='fields added to, or replacing, the default catalogue: [{"code", "name", "risk", "kind", '
        '"schemes"}] (schemes: those a certification field admits, none for a test field)',
    )
