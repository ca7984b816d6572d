"""Transactional outbox, outbox relay and idempotent consumer (inbox).

- A use case opens a `UnitOfWork`, changes state and `emit`s events; `commit` writes the
  state change and the outbox rows in one database transaction, then wakes the relay.
- The `OutboxRelay` publishes unpublished rows in order through an idempotent producer and
  marks them published; a crash in between publishes them again (consumers de-duplicate).
- The `EventConsumer` decodes one Kafka record, skips unknown types, sends undecodable ones
  to the service's dead-letter topic, and runs the handler in a unit of work that also
  records the event id in the inbox: a redelivered event changes nothing. The offset is
  committed by the subscriber only after that transaction has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conformity_shared import db, topics
from conformity_shared.clock import Clock
from conformity_shared.envelope import Envelope, MissingAttribute, causal_context
from conformity_shared.events import Event

log = structlog.get_logger("conformity.messaging")

# Errors worth retrying forever: the database or the broker is away for a while.
TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, ConnectionError, OSError, asyncio.TimeoutError)


# The relay sends as soon as it can: a batch of rows is handed to the producer in one go, so
# records batch by themselves; lingering would only add its delay to every hop of a cascade.
RELAY_LINGER_MS = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one event's transaction runs.

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
    ) -> None:
        self.clock = clock or Clock()
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self._source = source
        self._on_commit = on_commit
        self._pending: list[dict[str, Any]] = []
        self.emitted: list[tuple[Envelope, Event]] = []
        self.cause_event_id: str | None = None  # the event being handled, when there is one
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
                "headers": [[k, v.decode()] for k, v in envelope.headers()],
                "payload": event.model_dump_json().encode(),
                "created_at": envelope.time,
            }
        )
        self.emitted.append((envelope, event))
        return envelope

    async def claim(self, envelope: Envelope, record: ConsumerRecord) -> bool:
        """Record the event as handled; False if it was handled before (redelivery)."""
        seen = await self.session.scalar(
            sa.select(self._inbox.c.event_id).where(self._inbox.c.event_id == envelope.id)
        )
        if seen is not None:
            return False
        await self.session.execute(
            sa.insert(self._inbox).values(
                event_id=envelope.id,
                event_type=envelope.type,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                processed_at=_now(),
            )
        )
        return True

    async def commit(self) -> None:
        if self._pending:
            await db.insert_many(self.session, self._outbox, self._pending)
        await self.session.commit()
        had_events, self._pending = bool(self._pending), []
        if had_events:
            self._on_commit()


class OutboxRelay:
    """Publishes committed outbox rows promptly (woken on commit, polling as a fallback)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: sa.Table,
        bootstrap_servers: str,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 1000,
        client_id: str = "outbox-relay",
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._bootstrap = bootstrap_servers
        self._poll = poll_seconds
        self._batch = batch_size
        self._client_id = client_id
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.producer: AIOKafkaProducer | None = None
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._client_id}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.producer:
            await self.producer.stop()
            self.producer = None

    async def ensure_producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                enable_idempotence=True,  # acks=all, no duplicates from producer retries
                linger_ms=RELAY_LINGER_MS,
                max_batch_size=256 * 1024,
                request_timeout_ms=30000,
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self.producer = producer
        return self.producer

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                with collector_paused():  # a backlog of a hundred thousand rows: see collector_paused
                    while await self.publish_batch() == self._batch:
                        pass
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again
                log.warning("outbox relay could not publish; will retry", error=repr(exc), retry_in=backoff)
                if self.producer is not None and not isinstance(exc, sa_exc.SQLAlchemyError):
                    await self.producer.stop()
                    self.producer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows, in order; returns how many."""
        t = self._outbox
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    sa.select(t.c.seq, t.c.topic, t.c.key, t.c.headers, t.c.payload)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            producer = await self.ensure_producer()
            futures = [
                await producer.send(
                    row.topic,
                    value=row.payload,
                    key=row.key.encode(),
                    headers=[(k, v.encode()) for k, v in row.headers],
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await session.execute(
                sa.update(t).where(t.c.seq.in_([row.seq for row in rows])).values(published_at=_now())
            )
            await session.commit()
        self.published += len(rows)
        return len(rows)

    async def pending(self) -> int:
        async with self._sessions() as session:
            return await session.scalar(
                sa.select(sa.func.count()).select_from(self._outbox).where(self._outbox.c.published_at.is_(None))
            ) or 0


Handler = Callable[[UnitOfWork, Any], Awaitable[None]]


class EventConsumer:
    """Decodes records, dead-letters the undecodable, runs handlers exactly once in effect."""

    def __init__(
        self,
        service: str,
        unit_of_work: Callable[[], UnitOfWork],
        relay: OutboxRelay,
        handlers: Mapping[type[Event], Handler],
        *,
        max_attempts: int = 5,
    ) -> None:
        self.service = service
        self._uow = unit_of_work
        self._relay = relay
        self._handlers = {model.ce_type: (model, handler) for model, handler in handlers.items()}
        self._max_attempts = max_attempts
        self._attempts: dict[tuple[str, int, int], int] = {}
        self.dead_letter_topic = topics.dead_letters(service)

    @property
    def handled_types(self) -> list[str]:
        return sorted(self._handlers)

    async def _decode(self, record: ConsumerRecord) -> tuple[Envelope, Any, Handler] | str:
        """The record's envelope, event and handler; or what became of it (skipped, dead-lettered)."""
        try:
            envelope = Envelope.from_headers(record.headers or ())
        except MissingAttribute as exc:
            await self.dead_letter(record, str(exc))
            return "dead-lettered"
        entry = self._handlers.get(envelope.type)
        if entry is None:
            return "skipped"  # another service's business, or a type newer than us
        model, handler = entry
        try:
            event = model.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self.dead_letter(record, f"{envelope.type}: {_validation_summary(exc)}")
            return "dead-lettered"
        return envelope, event, handler

    def _context(self, envelope: Envelope, record: ConsumerRecord) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(causal_context(envelope.correlation_id, envelope.id))
        stack.enter_context(
            structlog.contextvars.bound_contextvars(
                service=self.service,
                event_id=envelope.id,
                event_type=envelope.type,
                correlation_id=envelope.correlation_id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
        )
        return stack

    async def handle_batch(self, records: Sequence[ConsumerRecord]) -> list[str]:
        """Handle the records the broker delivered together, in order, in one transaction.

        A backlog (a bulk cascade's hundred thousand events) then costs one commit per batch
        instead of one per event, and the subscriber commits the batch's offsets once, after
        that transaction. Each event still gets its inbox row, so a redelivered batch changes
        nothing. If any handler fails, the whole transaction is rolled back and the batch is
        handled again one record at a time (`handle`), where a failure is retried and, at the
        last attempt, dead-lettered alone, without holding back the events around it.
        """
        if len(records) == 1:
            return [await self.handle(records[0])]
        decoded_as, work = await self._decode_all(records)
        if not work:
            return decoded_as
        try:
            outcomes = await self._handle_together(decoded_as, work)
        except TRANSIENT as exc:
            log.warning("transient failure; the batch will be redelivered", error=repr(exc), records=len(records))
            await asyncio.sleep(0.5)
            raise
        except Exception as exc:
            log.warning("a handler failed in a batch; handling its records one by one", error=repr(exc))
            return [outcome or await self.handle(record) for outcome, record in zip(decoded_as, records, strict=True)]
        log.info("events handled", records=len(records), handled=outcomes.count("handled"),
                 duplicates=outcomes.count("duplicate"))
        return outcomes

    async def _decode_all(
        self, records: Sequence[ConsumerRecord]
    ) -> tuple[list[str], list[tuple[int, ConsumerRecord, Envelope, Any, Handler]]]:
        """What became of each record already ("" for one to handle), and the work to do."""
        decoded_as: list[str] = []
        work: list[tuple[int, ConsumerRecord, Envelope, Any, Handler]] = []
        for record in records:
            decoded = await self._decode(record)
            decoded_as.append(decoded if isinstance(decoded, str) else "")
            if not isinstance(decoded, str):
                work.append((len(decoded_as) - 1, record, *decoded))
        return decoded_as, work

    async def _handle_together(
        self, decoded_as: list[str], work: list[tuple[int, ConsumerRecord, Envelope, Any, Handler]]
    ) -> list[str]:
        outcomes = list(decoded_as)
        with collector_paused():
            async with self._uow() as uow:
                for index, record, envelope, event, handler in work:
                    with self._context(envelope, record):
                        uow.cause_event_id = envelope.id
                        if await uow.claim(envelope, record):
                            await handler(uow, event)
                            outcomes[index] = "handled"
                        else:
                            outcomes[index] = "duplicate"
                await uow.commit()
        return outcomes

    async def handle(self, record: ConsumerRecord) -> str:
        """Handle one record; returns what happened (handled, duplicate, skipped, dead-lettered)."""
        decoded = await self._decode(record)
        if isinstance(decoded, str):
            return decoded
        envelope, event, handler = decoded
        position = (record.topic, record.partition, record.offset)
        with self._context(envelope, record):
            try:
                with collector_paused():
                    async with self._uow() as uow:
                        uow.cause_event_id = envelope.id
                        if not await uow.claim(envelope, record):
                            log.info("event already handled; redelivery ignored")
                            return "duplicate"
                        await handler(uow, event)
                        await uow.commit()
            except TRANSIENT as exc:
                log.warning("transient failure; the event will be redelivered", error=repr(exc))
                await asyncio.sleep(0.5)
                raise
            except Exception as exc:
                attempts = self._attempts.get(position, 0) + 1
                self._attempts[position] = attempts
                if attempts < self._max_attempts:
                    log.warning("handler failed; the event will be redelivered", error=repr(exc), attempt=attempts)
                    await asyncio.sleep(0.2 * attempts)
                    raise
                self._attempts.pop(position, None)
                await self.dead_letter(record, "".join(traceback.format_exception_only(exc)).strip())
                return "dead-lettered"
            self._attempts.pop(position, None)
            log.info("event handled")
            return "handled"

    async def dead_letter(self, record: ConsumerRecord, error: str) -> None:
        """Keep the original bytes and headers, add why and where from; then consumption goes on."""
        producer = await self._relay.ensure_producer()
        headers = list(record.headers or ()) + [
            ("dlq_error", error.encode()),
            ("dlq_consumer", self.service.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_time", _now().isoformat().encode()),
        ]
        await producer.send_and_wait(self.dead_letter_topic, value=record.value, key=record.key, headers=headers)
        log.error("event dead-lettered", error=error, topic=record.topic, offset=record.offset)


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)

