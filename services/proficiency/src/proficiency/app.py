"""Composition root of the proficiency service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.runtime import ServiceDefinition, create_service_app

from proficiency import api, consumers, db
from proficiency.settings import ProficiencySettings


def create_app(settings: ProficiencySettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ProficiencySettings(),
        ServiceDefinition(
            title="Proficiency",
            description="Proficiency-testing rounds scored by ISO 13528, blind samples, and the lab failures "
            "and field suspensions they lead to.",
            metadata=db.metadata,
            migrations="proficiency:migrations",
            routers=[api.router],
            consumes=topics.CONSUMES["proficiency"],
            handlers=consumers.handlers,
            publishes=[events.RoundClosedV1, events.LabScoredV1, events.LabFailureV1, events.LabFieldSuspensionRequiredV1],
        ),
    )
