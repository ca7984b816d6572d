"""The unit of work: one database transaction holding a state change and the events it causes.

A use case opens a `UnitOfWork`, changes state and `emit`s events; `commit` writes the state
change and the outbox rows in one database transaction, then wakes the relay (and, on
PostgreSQL, notifies the publishing relay of whichever replica holds the publisher lease).
A consumer's unit of work also `claim`s the event it handles in the inbox, in the same
transaction, so that a redelivered event changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conformity_shared import db
from conformity_shared.clock import Clock
from conformity_shared.envelope import Envelope
from conformity_shared.events import Event


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """One database transaction holding a state change and the events it causes.

    `clock` is the use case's clock: the instants it records and the business dates it
    decides on come from it, never from the system clock directly.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: sa.Table,
        inbox: sa.Table,
        source: str,
        on_commit: Callable[[], None],
        clock: Clock | None = None,
        notify_channel: str | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self._source = source
        self._on_commit = on_commit
        self._notify_channel = notify_channel  # PostgreSQL: wake the publisher, on whichever replica
        self._pending: list[dict[str, Any]] = []
        self.emitted: list[tuple[Envelope, Event]] = []
        self.cause_event_id: str | None = None  # the event being handled, when there is one
        self.cause: Envelope | None = None  # its envelope (time, correlation), for services that record it
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.rollback()
        await self.session.close()

    def emit(self, event: Event) -> Envelope:
        envelope = Envelope.for_event(event, self._source, self.clock.now())
        self._pending.append(
            {
                "event_id": envelope.id,
                "topic": event.topic,
                "key": envelope.subject,
                "event_type": envelope.type,
                "headers": envelope.header_bytes(),  # built once, as the bytes the relay sends
                "payload": event.model_dump_json().encode(),
                "created_at": envelope.time,
            }
        )
        self.emitted.append((envelope, event))
        return envelope

    async def claim(self, envelope: Envelope, record: ConsumerRecord) -> bool:
        """Record the event as handled; False if it was handled before (redelivery).

        One statement: an insert that does nothing when the event id is already there, so a
        redelivery is told by the rows it inserted (none)."""
        inserted = await self.session.execute(
            db.upsertable_insert(self.session, self._inbox).values(
                event_id=envelope.id,
                event_type=envelope.type,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                processed_at=_now(),
            ).on_conflict_do_nothing(index_elements=[self._inbox.c.event_id])
        )
        return inserted.rowcount == 1

    async def commit(self) -> None:
        if self._pending:
            await db.insert_many(self.session, self._outbox, self._pending)
            if self._notify_channel:
                await self.session.execute(sa.select(sa.func.pg_notify(self._notify_channel, "")))
        await self.session.commit()
        had_events, self._pending = bool(self._pending), []
        if had_events:
            self._on_commit()


Handler = Callable[[UnitOfWork, Any], Awaitable[None]]
