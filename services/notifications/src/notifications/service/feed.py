"""The change feed: every change a subscriber watched, in the order recorded, from a durable
cursor (the position of the last change read). The same payloads as the webhooks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from conformity_shared.auth import Principal
from conformity_shared.errors import DomainError
from conformity_shared.runtime import ServiceRuntime

from notifications import db
from notifications.service.subscriptions import subscriber_of


def parse_cursor(cursor: str | None) -> int:
    """A cursor is the opaque position `GET /changes` answered as `next_cursor` (empty: the start)."""
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 19:
        raise DomainError("cursor is a value a previous page answered as next_cursor", "cursor",
                          [{"rule": "invalid_cursor", "detail": "digits only"}])
    return int(cursor)


async def page(runtime: ServiceRuntime[Any], subscriber: str, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    f = db.feed.c
    async with runtime.unit_of_work() as uow:
        rows = (await uow.session.execute(
            sa.select(f.seq, db.changes.c.body).join(db.changes, db.changes.c.id == f.change_id)
            .where(f.subscriber_uscc == subscriber, f.seq > after).order_by(f.seq).limit(limit)
        )).all()
    return [{"cursor": str(r.seq), **json.loads(r.body)} for r in rows], (rows[-1].seq if rows else after)


async def changes(runtime: ServiceRuntime[Any], principal: Principal, cursor: str | None, limit: int) -> dict[str, Any]:
    items, last = await page(runtime, subscriber_of(principal), parse_cursor(cursor), limit)
    return {"changes": items, "next_cursor": str(last), "more": len(items) == limit}


def stream(runtime: ServiceRuntime[Any], principal: Principal, cursor: str | None,
           stop: asyncio.Event | None = None) -> AsyncIterator[str]:
    """Server-sent events: each change as it is recorded, `id:` its cursor (a reconnecting client
    sends it back as Last-Event-ID and misses nothing). Ends after `stream_max_seconds`.

    The subscriber and the cursor are checked here, before the answer starts: a bad cursor is a
    422 naming it, not a stream broken after its headers were sent."""
    return _events(runtime, subscriber_of(principal), parse_cursor(cursor), stop)


async def _events(runtime: ServiceRuntime[Any], subscriber: str, after: int,
                  stop: asyncio.Event | None) -> AsyncIterator[str]:
    ends = time.monotonic() + runtime.settings.stream_max_seconds
    yield f"retry: {int(runtime.settings.stream_poll_seconds * 1000)}\n: connected\n\n"
    while (stop is None or not stop.is_set()) and time.monotonic() < ends:
        items, after = await page(runtime, subscriber, after, 500)
        for item in items:
            yield f"id: {item['cursor']}\nevent: {item['type']}\ndata: {json.dumps(item, separators=(',', ':'))}\n\n"
        if not items:
            await asyncio.sleep(runtime.settings.stream_poll_seconds)
            yield ": keep-alive\n\n"
