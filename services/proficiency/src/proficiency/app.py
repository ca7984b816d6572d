"""Composition root of the proficiency service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events
from conformity_shared.runtime import create_service_app
from conformity_shared.settings import ServiceSettings

from proficiency import api, db


class ProficiencySettings(ServiceSettings):
    service_name: str = "proficiency"


def create_app(settings: ProficiencySettings | None = None) -> FastAPI:
    settings = settings or ProficiencySettings()
    return create_service_app(
        settings,
        title="Proficiency",
        description="Proficiency-testing rounds scored by ISO 13528, blind samples, and the lab failures "
        "and field suspensions they lead to.",
        metadata=db.metadata,
        migrations="proficiency:migrations",
        routers=[api.router],
        # Consumes nothing: the rounds, samples and outcomes are all its own.
        publishes=[events.RoundClosedV1, events.LabScoredV1, events.LabFailureV1, events.LabFieldSuspensionRequiredV1],
    )
