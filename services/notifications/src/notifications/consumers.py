"""Event handlers: decoding is the shared consumer's; each handler calls one use case."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import Handler, UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from notifications import service
from notifications.domain.changes import TRANSITIONS
from notifications.settings import NotificationsSettings


def handlers(runtime: ServiceRuntime[NotificationsSettings]) -> dict[type[events.Event], Handler]:
    waiting = runtime.context.deliveries_waiting

    async def status_changed(uow: UnitOfWork, event: events.CertificateEvent) -> None:
        await service.record_status_change(uow, event)
        waiting.set()  # the worker looks now (and again at its next poll, after this commit)

    return {
        events.CertificateIssuedV1: service.record_issued,
        **dict.fromkeys(TRANSITIONS, status_changed),
        **dict.fromkeys(service.reactions.BODY_STATUS, service.record_body),
    }
