"""Composition root of the supervision service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.runtime import create_service_app
from conformity_shared.settings import ServiceSettings

from supervision import api, consumers, db, service


class SupervisionSettings(ServiceSettings):
    service_name: str = "supervision"
    credit_clean_days: int = 365  # a class is restored by one step after this many days without failure
    credit_check_interval_seconds: float = 3600.0


def create_app(settings: SupervisionSettings | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()
    return create_service_app(
        settings,
        title="Supervision",
        description='"Double random, one public": directories, verifiable random campaigns, inspections, '
        "spot checks, credit classes and public results.",
        metadata=db.metadata,
        migrations="supervision:migrations",
        routers=[api.router, api.public],
        handlers=consumers.handlers(settings),
        consumes=[topics.APPROVAL, topics.CERTIFICATES, topics.PROFICIENCY],
        publishes=[
            events.SpotCheckFailedV1,
            events.RectificationVerifiedV1,
            events.InspectionFailedV1,
            events.CreditClassChangedV1,
        ],
        on_startup=[
            lambda rt: rt.every(
                settings.credit_check_interval_seconds, lambda: service.restore_clean_credit(rt), "credit-restoration"
            )
        ],
    )
