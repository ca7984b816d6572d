"""Composition root of the supervision service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.runtime import ServiceDefinition, create_service_app

from supervision import api, consumers, db, scheduler
from supervision.settings import SupervisionSettings


def create_app(settings: SupervisionSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or SupervisionSettings(),
        ServiceDefinition(
            title="Supervision",
            description='"Double random, one public": directories, verifiable random campaigns, inspections, '
            "spot checks, credit classes and public results.",
            metadata=db.metadata,
            migrations="supervision:migrations",
            routers=[api.router, api.public],
            consumes=topics.CONSUMES["supervision"],
            handlers=consumers.handlers,
            publishes=[
                events.SpotCheckFailedV1,
                events.RectificationVerifiedV1,
                events.InspectionFailedV1,
                events.CreditClassChangedV1,
            ],
            jobs=scheduler.jobs,
        ),
    )
