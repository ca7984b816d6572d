"""Who publishes a service's outbox: one relay at a time, whatever the number of replicas.

Two relays publishing one outbox at once could send one aggregate's events out of order (the
second takes later rows while the first still holds earlier ones). So the relays of a service's
replicas elect one active publisher through the database they share:

- On PostgreSQL the publisher holds a session-level advisory lock on a connection of its own,
  and reads and marks the outbox through that same connection. The lock lives exactly as long
  as that session: when the holder's process dies its connection closes and PostgreSQL releases
  the lock at once (a lost machine: when TCP keepalives give up on its connection); a standby
  relay asks for the lock at every poll and takes over. The lock is the fence: a former holder
  whose session is gone can no longer mark rows published, so whatever it still sends is sent
  again, in order, by the new publisher, and consumers drop the duplicates by event id.
  The holder also LISTENs for the notification every commit with events sends, so an event
  committed by any replica wakes the one publisher at once.
- SQLite is one file on one machine, used by one process: its relay is always the publisher.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger("conformity.outbox")


def notification_channel(service: str) -> str:
    """The PostgreSQL channel a commit with events notifies and the publisher listens on."""
    return f"outbox_{service}".replace("-", "_")


def _lock_key(service: str) -> int:
    # A stable 63-bit key per service (advisory locks take a bigint).
    return int.from_bytes(hashlib.sha256(f"outbox-relay:{service}".encode()).digest()[:8], "big") >> 1


class PublisherLease:
    """The right to publish the outbox, and the connection to publish it through."""

    def __init__(self, engine: AsyncEngine, service: str, on_notify: Callable[[], None]) -> None:
        self._engine = engine
        self._service = service
        self._on_notify = on_notify
        self._conn: AsyncConnection | None = None
        self.held = False

    @property
    def shared(self) -> bool:
        """True where replicas share the database (PostgreSQL) and must elect a publisher."""
        return self._engine.dialect.name == "postgresql"

    async def acquire(self) -> AsyncConnection | None:
        """The publishing connection if this relay is (or has just become) the publisher, else None.

        A standby keeps its connection and asks for the lock again on it at every poll."""
        if self._conn is None or self._conn.closed:
            self._conn, self.held = await self._engine.connect(), False
        if self.held:
            return self._conn
        if self.shared and not await self._take_lock(self._conn):
            return None
        self.held = True
        log.info("outbox publisher: this relay publishes", service=self._service)
        return self._conn

    async def _take_lock(self, conn: AsyncConnection) -> bool:
        taken = await conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _lock_key(self._service)})
        await conn.commit()
        if taken:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(notification_channel(self._service), self._notified)
        return bool(taken)

    def _notified(self, *_args: Any) -> None:
        self._on_notify()

    async def release(self) -> None:
        """Give the lease up (after an error, or at stop): closing the session frees the lock."""
        conn, self._conn, self.held = self._conn, None, False
        if conn is not None:
            try:
                await conn.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection is what is being dropped
                log.info("outbox publisher: connection closed with an error", error=repr(exc))
