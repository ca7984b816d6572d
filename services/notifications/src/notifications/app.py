"""Composition root of the notifications service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.runtime import ServiceDefinition, create_service_app

from notifications import api, consumers, db, scheduler
from notifications.service import Context
from notifications.settings import NotificationsSettings


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    return create_service_app(
        settings,
        ServiceDefinition(
            title="Notifications",
            description="Watchlists of certificates, signed webhooks (Standard Webhooks) of their status "
            "changes, and a change feed.",
            metadata=db.metadata,
            migrations="notifications:migrations",
            routers=[api.endpoints, api.watchlist, api.deliveries, api.feed],
            consumes=topics.CONSUMES["notifications"],
            handlers=consumers.handlers,
            publishes=[events.DeliveredV1, events.DeliveryRetryingV1, events.DeliveryGivenUpV1,
                       events.EndpointDisabledV2],
            jobs=scheduler.jobs,
            workers=scheduler.workers,
            context=Context.of,
        ),
    )
