"""Sending what is owed: claim due deliveries (several replicas at once, none twice), sign and
POST them, record every attempt, retry with backoff, give up after the retry period, disable
an endpoint that keeps failing. A subscriber lists its deliveries and attempts and replays them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import defaultdict
from typing import Any

import httpx
import sqlalchemy as sa
import structlog

from conformity_shared import events
from conformity_shared.envelope import causal_context
from conformity_shared.auth import Principal
from conformity_shared.db import insert_many
from conformity_shared.errors import NotFound
from conformity_shared.runtime import ServiceRuntime

from notifications import db, sender
from notifications.domain import signing
from notifications.domain.delivery import DeliveryStatus, DisablePolicy, EndpointStatus, Outcome
from notifications.service.subscriptions import subscriber_of

log = structlog.get_logger("notifications.deliveries")


async def send_due(runtime: ServiceRuntime[Any], http: httpx.AsyncClient | sender.Clients) -> int:
    """One round: claim up to a batch of due deliveries, send them at once, record the outcomes.
    Returns how many were claimed (0: nothing is due)."""
    settings = runtime.settings
    now = runtime.clock.now()
    token = str(uuid.uuid4())
    async with runtime.engine.begin() as conn:
        claimed = await db.claim(conn, now, settings.delivery_batch_size, token,
                                 now + dt.timedelta(seconds=settings.delivery_lease_seconds))
    if not claimed:
        return 0
    gate = asyncio.Semaphore(settings.delivery_concurrency)
    # No more requests to one endpoint at once than its pool has connections: a request never
    # waits inside the pool (where the timeout would already count) and a slow endpoint keeps
    # at most this many of the round's slots.
    per_endpoint: dict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(settings.delivery_connections_per_endpoint))

    async def attempt(row: Any) -> Outcome:
        async with per_endpoint[row.endpoint_id], gate:
            at = runtime.clock.now()
            in_use = signing.secrets_in_use(row.secret, row.previous_secret, row.previous_secret_until, at)
            return await sender.post(http, row.url, signing.headers(in_use, row.id, at, row.body), row.body)

    outcomes = await asyncio.gather(*(attempt(row) for row in claimed))
    await record_outcomes(runtime, token, list(zip(claimed, outcomes, strict=True)))
    return len(claimed)


def _caused_by(row: Any) -> Any:
    """The causal context of a delivery's outcome events: caused by the certificate event the
    webhook tells of, in that event's correlation (the request that started the cascade)."""
    correlation = json.loads(row.body).get("data", {}).get("correlation_id") if row.body else None
    return causal_context(correlation or row.cause_event_id, row.cause_event_id)


async def record_outcomes(runtime: ServiceRuntime[Any], token: str, done: list[tuple[Any, Outcome]]) -> None:
    """Each attempt's result, the delivery's next step, and the endpoints' health, in one
    transaction; a claim that lapsed meanwhile (another replica took over) records its attempt only.

    Each outcome's event goes to the outbox in the same transaction: `notification.delivered.v1`,
    `notification.delivery_retrying.v1` (its first failure only) or `notification.delivery_given_up.v1`,
    caused by the certificate event, so the regulator's dashboard shows the deliveries beneath it."""
    context = runtime.context
    d = db.deliveries.c
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        await insert_many(uow.session, db.delivery_attempts, [
            {"delivery_id": row.id, "at": now, "status_code": o.status_code, "error": o.error, "duration_ms": o.duration_ms}
            for row, o in done
        ])
        await _endpoint_health(uow, context.disable, done, now)
        # Only the rows this claim still holds change (and are announced): another replica may
        # have taken over a lapsed claim, and will record its own attempt.
        held = set((await uow.session.execute(
            sa.select(d.seq).where(d.seq.in_([row.seq for row, _o in done]), d.claim == token)
        )).scalars())
        done = [(row, o) for row, o in done if row.seq in held]
        delivered = [{"b_seq": row.seq, "b_code": o.status_code} for row, o in done if o.ok]
        if delivered:
            await uow.session.execute(
                sa.update(db.deliveries).where(d.seq == sa.bindparam("b_seq"), d.claim == token)
                .values(status=DeliveryStatus.DELIVERED.value, attempts=d.attempts + 1, last_status_code=sa.bindparam("b_code"),
                        last_error=None, finished_at=now, claimed_until=None, claim=None),
                delivered,
            )
        for row, outcome in done:
            if outcome.ok:
                with _caused_by(row):
                    uow.emit(events.DeliveredV1(endpoint_id=row.endpoint_id, subscriber_uscc=row.subscriber_uscc,
                                                delivery_id=row.id, certificate_number=row.certificate_number,
                                                attempts=row.attempts + 1, status_code=outcome.status_code or 200))
        failed = []  # every failed row's next step, written in one executemany
        for row, outcome in (x for x in done if not x[1].ok):
            attempts = row.attempts + 1
            step: dict[str, Any] = {"b_seq": row.seq, "b_attempts": attempts, "b_code": outcome.status_code,
                                    "b_error": outcome.error, "b_status": DeliveryStatus.PENDING.value,
                                    "b_next": now, "b_finished": None}
            if context.retry.gives_up(row.retry_from, now):
                step.update(b_status=DeliveryStatus.GIVEN_UP.value, b_finished=now)
                with _caused_by(row):
                    uow.emit(events.DeliveryGivenUpV1(endpoint_id=row.endpoint_id, subscriber_uscc=row.subscriber_uscc,
                                                      delivery_id=row.id, certificate_number=row.certificate_number,
                                                      attempts=attempts, last_error=outcome.failure))
            else:
                step["b_next"] = now + context.retry.next_attempt(attempts, now)
                if row.attempts == 0:  # the first failure: from now on it is being retried
                    with _caused_by(row):
                        uow.emit(events.DeliveryRetryingV1(
                            endpoint_id=row.endpoint_id, subscriber_uscc=row.subscriber_uscc, delivery_id=row.id,
                            certificate_number=row.certificate_number, attempts=attempts, failure=outcome.failure,
                            next_attempt_at=step["b_next"]))
            failed.append(step)
        if failed:
            await uow.session.execute(
                sa.update(db.deliveries).where(d.seq == sa.bindparam("b_seq"), d.claim == token)
                .values(status=sa.bindparam("b_status"), attempts=sa.bindparam("b_attempts"),
                        last_status_code=sa.bindparam("b_code"), last_error=sa.bindparam("b_error"),
                        next_attempt_at=sa.bindparam("b_next"), finished_at=sa.bindparam("b_finished"),
                        claimed_until=None, claim=None),
                failed,
            )
        await uow.commit()


async def _endpoint_health(uow: Any, policy: DisablePolicy, done: list[tuple[Any, Outcome]], now: dt.datetime) -> None:
    """Consecutive failures per endpoint; one that keeps failing is disabled, with the reason."""
    by_endpoint: dict[str, list[tuple[Any, Outcome]]] = defaultdict(list)
    for row, outcome in done:
        by_endpoint[row.endpoint_id].append((row, outcome))
    e = db.endpoints.c
    for endpoint_id, results in by_endpoint.items():
        current = (await uow.session.execute(sa.select(db.endpoints).where(e.id == endpoint_id))).first()
        if current is None:
            continue
        failures, since = current.consecutive_failures, current.failing_since
        for _row, outcome in results:
            if outcome.ok:
                failures, since = 0, None
            else:
                failures, since = failures + 1, since or now
        values: dict[str, Any] = {"consecutive_failures": failures, "failing_since": since}
        if current.status == EndpointStatus.ACTIVE.value and policy.disables(failures, since, now):
            last = next(o for _r, o in reversed(results) if not o.ok)
            reason = f"{failures} failed attempts in a row since {since.isoformat()}; last: {last.error}"[:1000]
            values.update(status=EndpointStatus.DISABLED.value, disabled_reason=reason, disabled_at=now)
            # The stream says why without the URL or the error's text (the subscriber's reason has them).
            uow.emit(events.EndpointDisabledV2(
                endpoint_id=endpoint_id, subscriber_uscc=current.subscriber_uscc, consecutive_failures=failures,
                reason=f"{failures} failed attempts in a row since {since.isoformat()}; last: {last.failure}",
                failing_since=since))
            log.warning("endpoint disabled", endpoint_id=endpoint_id, reason=reason)
        await uow.session.execute(sa.update(db.endpoints).where(e.id == endpoint_id).values(**values))


# --- what a subscriber sees -----------------------------------------------------------------------------


def _delivery_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "endpoint_id": row.endpoint_id, "certificate_number": row.certificate_number,
            "status": row.status, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "created_at": row.created_at, "finished_at": row.finished_at}


async def list_deliveries(runtime: ServiceRuntime[Any], principal: Principal, *, status: DeliveryStatus | None,
                          endpoint_id: str | None, certificate_number: str | None, after: int,
                          limit: int) -> dict[str, Any]:
    subscriber = subscriber_of(principal)
    d = db.deliveries.c
    query = sa.select(db.deliveries).where(d.subscriber_uscc == subscriber, d.seq > after)
    if status:
        query = query.where(d.status == status.value)
    if endpoint_id:
        query = query.where(d.endpoint_id == endpoint_id)
    if certificate_number:
        query = query.where(d.certificate_number == certificate_number.strip().upper())
    async with runtime.unit_of_work() as uow:
        rows = (await uow.session.execute(query.order_by(d.seq).limit(limit))).all()
    return {"deliveries": [_delivery_view(r) for r in rows],
            "next_after": rows[-1].seq if len(rows) == limit else None}


async def _own_delivery(session: Any, subscriber: str, delivery_id: str) -> Any:
    row = (await session.execute(sa.select(db.deliveries).where(db.deliveries.c.id == delivery_id))).first()
    if row is None or row.subscriber_uscc != subscriber:
        raise NotFound(f"no delivery {delivery_id} of yours", "delivery_id")
    return row


async def get_delivery(runtime: ServiceRuntime[Any], principal: Principal, delivery_id: str) -> dict[str, Any]:
    subscriber = subscriber_of(principal)
    a = db.delivery_attempts.c
    async with runtime.unit_of_work() as uow:
        row = await _own_delivery(uow.session, subscriber, delivery_id)
        attempts = (await uow.session.execute(
            sa.select(db.delivery_attempts).where(a.delivery_id == delivery_id).order_by(a.id)
        )).all()
        body = await uow.session.scalar(sa.select(db.changes.c.body).where(db.changes.c.id == row.change_id))

    return {**_delivery_view(row), "payload": json.loads(body or "null"),
            "attempt_log": [{"at": x.at, "status_code": x.status_code, "error": x.error, "duration_ms": x.duration_ms}
                            for x in attempts]}


async def replay(runtime: ServiceRuntime[Any], principal: Principal, delivery_ids: list[str] | None,
                 endpoint_id: str | None = None) -> dict[str, Any]:
    """Send deliveries again, with their same webhook-id: the named ones, or every one of an
    endpoint that was given up. The retry period starts again from the replay."""
    subscriber = subscriber_of(principal)
    d = db.deliveries.c
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        query = sa.update(db.deliveries).where(d.subscriber_uscc == subscriber)
        if delivery_ids:
            for delivery_id in delivery_ids:
                await _own_delivery(uow.session, subscriber, delivery_id)
            query = query.where(d.id.in_(delivery_ids))
        else:
            query = query.where(d.endpoint_id == endpoint_id, d.status == DeliveryStatus.GIVEN_UP.value)
        done = await uow.session.execute(
            query.values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, finished_at=None,
                         retry_from=now, claimed_until=None, claim=None)
        )
        await uow.commit()
    runtime.context.deliveries_waiting.set()
    return {"replayed": done.rowcount}
