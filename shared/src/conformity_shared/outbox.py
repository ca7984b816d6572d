"""The outbox relay: publishes committed outbox rows, in order, through an idempotent producer
(confluent-kafka's librdkafka: see `relay_producer` for why, and what it keeps).

Woken right after a commit with events (and by a notification from any replica's commit on
PostgreSQL), polling as a fallback. Only the relay holding the service's `PublisherLease`
publishes; the others stand by and ask for the lease at every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from conformity_shared.envelope import decode_headers
from conformity_shared.publisher_lease import PublisherLease
from conformity_shared.relay_producer import RelayProducer, producer_config

log = structlog.get_logger("conformity.outbox")

# The relay sends as soon as it can: a batch of rows is handed to the producer in one go, so
# records batch by themselves; lingering would only add its delay to every hop of a cascade.
RELAY_LINGER_MS = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large transaction runs.

    A bulk handler (a revoked body's hundred thousand certificates) builds hundreds of
    thousands of objects that live until the commit (rows, envelopes, outbox rows) and hold
    no reference cycles; the collector would walk the growing heap again and again meanwhile,
    which measured as half of such a cascade. Reference counting still frees everything; the
    collector resumes when the transaction ends. For an ordinary event the pause lasts a few
    milliseconds.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class OutboxRelay:
    """Publishes committed outbox rows promptly while it holds the publisher lease."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: sa.Table,
        bootstrap_servers: str,
        *,
        service: str,
        poll_seconds: float = 1.0,
        batch_size: int = 1000,
        producer_settings: dict[str, Any] | None = None,
    ) -> None:
        """`producer_settings`: the principal's access in librdkafka's names (`KafkaAccess.librdkafka_settings`)."""
        self._engine = engine
        self._outbox = outbox
        self._bootstrap = bootstrap_servers
        self._poll = poll_seconds
        self._batch = batch_size
        self._client_id = f"{service}-outbox"
        self._producer_settings = dict(producer_settings or {})
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lease = PublisherLease(engine, service, self.wake)
        self.producer: RelayProducer | None = None
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    @property
    def active(self) -> bool:
        """True while this relay is its service's publisher."""
        return self.lease.held

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._client_id)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.producer:
            await self.producer.stop()
            self.producer = None
        await self.lease.release()

    async def ensure_producer(self) -> RelayProducer:
        """The relay's producer (the dead-letter topic sends through it too)."""
        if self.producer is None:
            self.producer = RelayProducer(
                producer_config(self._bootstrap, self._client_id, RELAY_LINGER_MS, self._producer_settings))
        return self.producer

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
            try:
                await self.publish_pending()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again
                log.warning("outbox relay could not publish; will retry", error=repr(exc), retry_in=backoff)
                await self._reset(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake.set()

    async def _reset(self, exc: Exception) -> None:
        if isinstance(exc, sa_exc.SQLAlchemyError):
            await self.lease.release()  # a broken session may have lost the lock: take it again, or not
        elif self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def publish_pending(self) -> int:
        """Publish everything waiting, batch by batch, if this relay is the publisher; how many."""
        conn = await self.lease.acquire()
        if conn is None:
            return 0
        total = 0
        with collector_paused():  # a backlog of a hundred thousand rows: see collector_paused
            while (sent := await self.publish_batch(conn)) > 0:
                total += sent
                if sent < self._batch:
                    break
        return total

    async def publish_batch(self, conn: AsyncConnection) -> int:
        """Publish one batch of unpublished rows, in order, and mark them; returns how many."""
        t = self._outbox
        async with conn.begin():
            rows = (
                await conn.execute(
                    sa.select(t.c.seq, t.c.topic, t.c.key, t.c.headers, t.c.payload)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self._batch)
                )
            ).all()
            if not rows:
                return 0
            await self._send(rows)
            await conn.execute(sa.update(t).where(t.c.seq.in_([row.seq for row in rows])).values(published_at=_now()))
        self.published += len(rows)
        return len(rows)

    async def _send(self, rows: list[Any]) -> None:
        """Every row sent and acknowledged (raises otherwise: the rows stay unpublished)."""
        producer = await self.ensure_producer()
        await producer.publish((row.topic, row.payload, row.key, decode_headers(row.headers)) for row in rows)

    async def pending(self) -> int:
        async with self._engine.connect() as conn:
            return await conn.scalar(
                sa.select(sa.func.count()).select_from(self._outbox).where(self._outbox.c.published_at.is_(None))
            ) or 0
