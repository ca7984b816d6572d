"""Subscribers' endpoints and watchlists. A subscriber is an organisation (the USCC of a
platform or agency token); it sees and changes only its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from conformity_shared.auth import Principal
from conformity_shared.db import insert_many
from conformity_shared.errors import Forbidden, NotFound
from conformity_shared.runtime import ServiceRuntime

from notifications import db
from notifications.domain import signing, targets, watchlists
from notifications.domain.delivery import DeliveryStatus, EndpointStatus
from notifications.domain.watchlists import WatchKind

UNKNOWN_LISTED = 1000  # unknown values named in an answer; all are counted


def subscriber_of(principal: Principal) -> str:
    """The subscribing organisation: a token without an organisation code cannot subscribe."""
    if not principal.org:
        raise Forbidden("a subscriber is an organisation: the token needs an org claim (its USCC)", "org",
                        [{"rule": "organisation_required", "detail": "platform and agency tokens name their USCC"}])
    return principal.org


def endpoint_view(row: Any, *, with_secret: bool = False) -> dict[str, Any]:
    view = {
        "id": row.id, "url": row.url, "description": row.description, "status": row.status,
        "disabled_reason": row.disabled_reason, "disabled_at": row.disabled_at,
        "consecutive_failures": row.consecutive_failures, "failing_since": row.failing_since,
        "created_at": row.created_at, "previous_secret_until": row.previous_secret_until,
    }
    if with_secret:
        view["secret"] = row.secret
    return view


async def _own_endpoint(session: Any, subscriber: str, endpoint_id: str) -> Any:
    row = (await session.execute(sa.select(db.endpoints).where(db.endpoints.c.id == endpoint_id))).first()
    if row is None or row.subscriber_uscc != subscriber:  # another's endpoint is as good as absent
        raise NotFound(f"no endpoint {endpoint_id} of yours", "endpoint_id")
    return row


async def create_endpoint(runtime: ServiceRuntime[Any], principal: Principal, url: str,
                          description: str | None) -> dict[str, Any]:
    subscriber = subscriber_of(principal)
    targets.check_url(url, development=runtime.settings.development)
    async with runtime.unit_of_work() as uow:
        values = {
            "id": str(uuid.uuid4()), "subscriber_uscc": subscriber, "url": url, "description": description,
            "secret": signing.new_secret(), "status": EndpointStatus.ACTIVE.value, "consecutive_failures": 0,
            "created_at": uow.clock.now(),
        }
        await uow.session.execute(sa.insert(db.endpoints).values(**values))
        await uow.commit()
        row = await _own_endpoint(uow.session, subscriber, values["id"])
    return endpoint_view(row, with_secret=True)


async def list_endpoints(runtime: ServiceRuntime[Any], principal: Principal) -> dict[str, Any]:
    subscriber = subscriber_of(principal)
    async with runtime.unit_of_work() as uow:
        rows = (await uow.session.execute(
            sa.select(db.endpoints).where(db.endpoints.c.subscriber_uscc == subscriber).order_by(db.endpoints.c.created_at)
        )).all()
    return {"endpoints": [endpoint_view(r) for r in rows]}


async def get_endpoint(runtime: ServiceRuntime[Any], principal: Principal, endpoint_id: str,
                       with_secret: bool = False) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        row = await _own_endpoint(uow.session, subscriber_of(principal), endpoint_id)
    return endpoint_view(row, with_secret=with_secret)


async def rotate_secret(runtime: ServiceRuntime[Any], principal: Principal, endpoint_id: str) -> dict[str, Any]:
    """A new secret signs from now on; the old one signs beside it until the overlap ends, so a
    receiver can switch without dropping a delivery."""
    subscriber = subscriber_of(principal)
    async with runtime.unit_of_work() as uow:
        row = await _own_endpoint(uow.session, subscriber, endpoint_id)
        until = uow.clock.now() + dt.timedelta(seconds=runtime.context.overlap_seconds)
        await uow.session.execute(
            sa.update(db.endpoints).where(db.endpoints.c.id == endpoint_id)
            .values(secret=signing.new_secret(), previous_secret=row.secret, previous_secret_until=until)
        )
        await uow.commit()
        row = await _own_endpoint(uow.session, subscriber, endpoint_id)
    return endpoint_view(row, with_secret=True)


async def enable_endpoint(runtime: ServiceRuntime[Any], principal: Principal, endpoint_id: str) -> dict[str, Any]:
    """Enable a disabled endpoint: its waiting deliveries go out again, oldest first."""
    subscriber = subscriber_of(principal)
    async with runtime.unit_of_work() as uow:
        await _own_endpoint(uow.session, subscriber, endpoint_id)
        now = uow.clock.now()
        await uow.session.execute(
            sa.update(db.endpoints).where(db.endpoints.c.id == endpoint_id)
            .values(status=EndpointStatus.ACTIVE.value, disabled_reason=None, disabled_at=None,
                    consecutive_failures=0, failing_since=None)
        )
        d = db.deliveries.c
        await uow.session.execute(
            sa.update(db.deliveries).where(d.endpoint_id == endpoint_id, d.status == DeliveryStatus.PENDING.value)
            .values(next_attempt_at=now)
        )
        await uow.commit()
        row = await _own_endpoint(uow.session, subscriber, endpoint_id)
    runtime.context.deliveries_waiting.set()
    return endpoint_view(row)


async def _unknown(session: Any, kind: WatchKind, values: list[str]) -> list[str]:
    c = db.certificates.c
    if kind is WatchKind.CERTIFICATE:
        known = await db.known_numbers(session, values, c.number)
    elif kind is WatchKind.HOLDER:
        known = await db.known_numbers(session, values, c.holder_uscc)
    elif kind is WatchKind.ISSUING_BODY:
        known = (await db.known_numbers(session, values, db.bodies.c.uscc)
                 | await db.known_numbers(session, values, c.issuing_body_uscc))
    else:
        return []
    return [v for v in values if v not in known]


async def add_watches(runtime: ServiceRuntime[Any], principal: Principal, kind: WatchKind,
                      values: list[str]) -> dict[str, Any]:
    """Add values to the watchlist (all or nothing). Values the platform has not seen are
    watched too, and reported as unknown."""
    subscriber = subscriber_of(principal)
    values = watchlists.normalised(kind, values)
    async with runtime.unit_of_work() as uow:
        already = await db.existing_values(uow.session, subscriber, kind.value, values)
        new = [v for v in values if v not in already]
        watchlists.check_size(kind, await db.count_watches(uow.session, subscriber, kind.value), len(new))
        now = uow.clock.now()
        for start in range(0, len(new), 10_000):
            await insert_many(uow.session, db.watches, [
                {"subscriber_uscc": subscriber, "kind": kind.value, "value": v, "added_at": now}
                for v in new[start:start + 10_000]
            ])
        unknown = await _unknown(uow.session, kind, values)
        total = await db.count_watches(uow.session, subscriber, kind.value)
        await uow.commit()
    return {"kind": kind.value, "added": len(new), "already_watched": len(already), "watched": total,
            "unknown_count": len(unknown), "unknown": unknown[:UNKNOWN_LISTED]}


async def remove_watches(runtime: ServiceRuntime[Any], principal: Principal, kind: WatchKind,
                         values: list[str]) -> dict[str, Any]:
    subscriber = subscriber_of(principal)
    values = watchlists.normalised(kind, values)
    removed = 0
    async with runtime.unit_of_work() as uow:
        w = db.watches.c
        for start in range(0, len(values), 5000):
            done = await uow.session.execute(
                sa.delete(db.watches).where(w.subscriber_uscc == subscriber, w.kind == kind.value,
                                            w.value.in_(values[start:start + 5000]))
            )
            removed += done.rowcount
        total = await db.count_watches(uow.session, subscriber, kind.value)
        await uow.commit()
    return {"kind": kind.value, "removed": removed, "not_watched": len(values) - removed, "watched": total}


async def list_watches(runtime: ServiceRuntime[Any], principal: Principal, kind: WatchKind, after: str,
                       limit: int) -> dict[str, Any]:
    subscriber = subscriber_of(principal)
    w = db.watches.c
    async with runtime.unit_of_work() as uow:
        values = list((await uow.session.execute(
            sa.select(w.value).where(w.subscriber_uscc == subscriber, w.kind == kind.value, w.value > after)
            .order_by(w.value).limit(limit)
        )).scalars())
        total = await db.count_watches(uow.session, subscriber, kind.value)
    return {"kind": kind.value, "watched": total, "values": values,
            "next_after": values[-1] if len(values) == limit else None}
