"""Composition root of the approval service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from pydantic import Field

from conformity_shared import events, topics
from conformity_shared.runtime import create_service_app
from conformity_shared.settings import ServiceSettings

from approval import api, consumers, db
from approval.policy import Policy


class ApprovalSettings(ServiceSettings):
    """The rules' defaults are DESIGN.md's; each is a `CONFORMITY_*` variable."""

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
        description='fields added to, or replacing, the default catalogue: [{"code", "name", "risk", "kind"}]',
    )


def create_app(settings: ApprovalSettings | None = None) -> FastAPI:
    settings = settings or ApprovalSettings()
    policy = Policy.from_settings(settings)
    return create_service_app(
        settings,
        title="Approval",
        description="Qualifications of certification bodies and testing labs: the notification-commitment and "
        "standard paths, post-approval verification, and the approval lifecycle.",
        metadata=db.metadata,
        migrations="approval:migrations",
        routers=[api.router],
        handlers=consumers.handlers(settings),
        consumes=[topics.SUPERVISION, topics.PROFICIENCY],
        publishes=[
            events.ApprovalGrantedV1,
            events.ApprovalSuspendedV1,
            events.ApprovalReinstatedV1,
            events.ApprovalScopeReducedV1,
            events.ApprovalRevokedV1,
            events.CommitmentBreachedV1,
        ],
        extras={"policy": policy},
    )
