"""The delivery worker: every replica runs it, and they share the work through the delivery
outbox (each round claims due rows with FOR UPDATE SKIP LOCKED and a lease, so no two replicas
send one delivery at once, and a crashed sender's claim lapses to another).

Besides it, a periodic job (once per period across replicas, the shared jobs pattern) prunes
finished deliveries past their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import sqlalchemy as sa
import structlog

from conformity_shared.runtime import BackgroundWorker, PeriodicJob, ServiceRuntime

from notifications import db, sender, service
from notifications.domain.delivery import DeliveryStatus
from notifications.settings import NotificationsSettings

log = structlog.get_logger("notifications.worker")


async def deliver_forever(runtime: ServiceRuntime[NotificationsSettings]) -> None:
    """Send due deliveries until cancelled: back to back while there is work, else wait for a
    change (or the poll interval, for retries coming due and other replicas' changes)."""
    settings = runtime.settings
    waiting = runtime.context.deliveries_waiting
    http = sender.Clients(development=settings.development, timeout=settings.delivery_timeout_seconds,
                          connections_per_endpoint=settings.delivery_connections_per_endpoint)
    try:
        while True:
            try:
                claimed = await service.send_due(runtime, http)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away for a moment: the claims lapse, try again
                log.warning("delivery round failed", error=repr(exc))
                claimed = 0
                await asyncio.sleep(settings.delivery_poll_seconds)
            if claimed:
                continue
            waiting.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiting.wait(), settings.delivery_poll_seconds)
    finally:
        await http.aclose()


async def prune_finished(runtime: ServiceRuntime[NotificationsSettings]) -> int:
    """Delete deliveries finished longer ago than the outbox retention, with their attempts."""
    before = runtime.clock.now() - dt.timedelta(hours=runtime.settings.outbox_retention_hours)
    d = db.deliveries.c
    async with runtime.engine.begin() as conn:
        old = sa.select(d.id).where(d.status != DeliveryStatus.PENDING.value, d.finished_at < before)
        await conn.execute(sa.delete(db.delivery_attempts).where(db.delivery_attempts.c.delivery_id.in_(old)))
        done = await conn.execute(sa.delete(db.deliveries).where(d.id.in_(old)))
    return done.rowcount


def workers(runtime: ServiceRuntime[NotificationsSettings]) -> list[BackgroundWorker]:
    return [BackgroundWorker(f"delivery-worker-{n}", lambda: deliver_forever(runtime))
            for n in range(1, runtime.settings.delivery_workers + 1)]


def jobs(runtime: ServiceRuntime[NotificationsSettings]) -> list[PeriodicJob]:
    return [PeriodicJob("prune-finished-deliveries", runtime.settings.retention_interval_seconds,
                        lambda: prune_finished(runtime))]
