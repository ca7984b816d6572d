"""Composition root of the certificates service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.runtime import create_service_app
from conformity_shared.settings import ServiceSettings

from certificates import api, consumers, db, scheduler


class CertificatesSettings(ServiceSettings):
    service_name: str = "certificates"
    suspension_months: int = 6
    scheduler_interval_seconds: float = 60.0
    allow_as_of: bool = False  # lets a regulator run the due transitions as of a later day (demos, tests)


def create_app(settings: CertificatesSettings | None = None) -> FastAPI:
    settings = settings or CertificatesSettings()
    return create_service_app(
        settings,
        title="Certificates",
        description="Issuance within approved scope, the certificate lifecycle, and public verification.",
        metadata=db.metadata,
        migrations="certificates:migrations",
        routers=[api.router, api.public],
        handlers=consumers.handlers(settings),
        consumes=[topics.APPROVAL, topics.SUPERVISION],
        publishes=[
            events.CertificateIssuedV1,
            events.CertificateSuspendedV1,
            events.CertificateReinstatedV1,
            events.CertificateWithdrawnV1,
            events.CertificateCancelledV1,
            events.CertificateExpiredV1,
        ],
        on_startup=[scheduler.start],
    )
