"""Composition root of the certificates service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.rate_limits import SlidingWindowLimit
from conformity_shared.runtime import ServiceDefinition, create_reader_app, create_service_app

from certificates import api, consumers, db, scheduler
from certificates.public_read import PublicReader
from certificates.service.context import CertificatesContext
from certificates.service.digital import Digital
from certificates.settings import CertificatesSettings


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        title="Certificates",
        description="Issuance within approved scope, the certificate lifecycle, and public verification.",
        metadata=db.metadata,
        migrations="certificates:migrations",
        routers=[api.router, api.public, api.digital],
        consumes=topics.CONSUMES["certificates"],
        handlers=consumers.handlers,
        publishes=[
            events.CertificateIssuedV1,
            events.CertificateSuspendedV1,
            events.CertificateReinstatedV1,
            events.CertificateWithdrawnV1,
            events.CertificateCancelledV1,
            events.CertificateExpiredV1,
        ],
        jobs=scheduler.jobs,
        # Refuses development keys outside development, like the identity settings.
        context=Digital.from_settings,
    )


def create_app(settings: CertificatesSettings | None = None) -> FastAPI:
    settings = settings or CertificatesSettings()
    app = create_service_app(settings, definition())
    _public_verification(app, settings)
    return app


def create_public_app(settings: CertificatesSettings | None = None) -> FastAPI:
    """Public verification alone, read-only, for extra processes beside the service:
    `certificates-public --workers N` (`public_server`; README, "Scaling public verification").
    The proxy sends them GET /public/certificates/{number} and POST /public/certificates/verify;
    the digital routes stay with the service (a credential is signed on its first request)."""
    settings = settings or CertificatesSettings()
    app = create_reader_app(settings, definition(), [api.public])
    _public_verification(app, settings)
    return app


def _public_verification(app: FastAPI, settings: CertificatesSettings) -> None:
    runtime = app.state.runtime
    # Digital.from_settings built the signing context; public verification's read path joins it.
    reader = PublicReader(runtime.engine)
    runtime.context = CertificatesContext(digital=runtime.context, reader=reader)
    runtime.closing.append(reader.aclose)
    api.serve_one_number_directly(app)
    # Per replica (per worker process), like every rate limit here (SECURITY.md).
    app.state.verify_numbers_limit = SlidingWindowLimit(
        "public_verify_numbers", settings.public_verify_numbers_per_window, settings.public_rate_window_seconds
    )
