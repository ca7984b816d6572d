"""The idempotent consumer: decode, skip unknown types, dead-letter the undecodable, and run
each handler exactly once in effect.

`EventConsumer` decodes one Kafka record, skips unknown types, sends undecodable ones to the
service's dead-letter topic, and runs the handler in a unit of work that also records the event
id in the inbox: a redelivered event changes nothing. The offset is committed by the subscriber
only after that transaction has committed. A handler that keeps failing is retried, its attempts
counted in the database (`FailureLog`), and dead-lettered at the last attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from conformity_shared import topics
from conformity_shared.envelope import Envelope, MissingAttribute, causal_context
from conformity_shared.events import Event
from conformity_shared.dead_letters import DeadLetters, FailureLog
from conformity_shared.outbox import OutboxRelay, collector_paused
from conformity_shared.unit_of_work import Handler, UnitOfWork

log = structlog.get_logger("conformity.inbox")

# Errors worth retrying forever: the database or the broker is away for a while.
TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, ConnectionError, OSError, asyncio.TimeoutError)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EventConsumer:
    """Decodes records, dead-letters the undecodable, runs handlers exactly once in effect."""

    def __init__(
        self,
        service: str,
        unit_of_work: Callable[[], UnitOfWork],
        relay: OutboxRelay,
        handlers: Mapping[type[Event], Handler],
        failures: FailureLog,
        *,
        max_attempts: int = 5,
    ) -> None:
        self.service = service
        self._uow = unit_of_work
        self._handlers = {model.ce_type: (model, handler) for model, handler in handlers.items()}
        self._failures = failures
        self._max_attempts = max_attempts
        self.dead_letters = DeadLetters(service, relay, failures)
        self.dead_letter_topic = self.dead_letters.topic

    @property
    def handled_types(self) -> list[str]:
        return sorted(self._handlers)

    async def _decode(self, record: ConsumerRecord) -> tuple[Envelope, Any, Handler] | str:
        """The record's envelope, event and handler; or what became of it (skipped, dead-lettered,
        refused). A record from the replay topic is first checked to be one of our dead letters."""
        if record.topic == self.dead_letters.replay_topic:
            replayed = await self.dead_letters.accepted_replay(record)
            if replayed is None:
                return "refused"
            record = replayed
        try:
            envelope = Envelope.from_headers(record.headers or ())
        except MissingAttribute as exc:
            await self.dead_letter(record, str(exc))
            return "dead-lettered"
        entry = self._handlers.get(envelope.type)
        if entry is None:
            return "skipped"  # another service's business, or a type newer than us
        return await self._validated(record, envelope, *entry)

    async def _validated(self, record: ConsumerRecord, envelope: Envelope, model: type[Event],
                         handler: Handler) -> tuple[Envelope, Any, Handler] | str:
        owner = topics.owner_of(record.topic)
        if owner is not None and envelope.source != topics.source_of(owner):
            # Only the owner publishes a stream: an event claiming another source was forged or misrouted.
            await self.dead_letter(record, f"ce_source {envelope.source!r} is not {topics.source_of(owner)!r}, "
                                           f"the publisher of {record.topic}")
            return "dead-lettered"
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
                        uow.cause_event_id, uow.cause = envelope.id, envelope
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
        with self._context(envelope, record):
            try:
                outcome = await self._handle_alone(envelope, event, handler, record)
            except TRANSIENT as exc:
                log.warning("transient failure; the event will be redelivered", error=repr(exc))
                await asyncio.sleep(0.5)
                raise
            except Exception as exc:
                return await self._failed(envelope, record, exc)
            log.info("event handled" if outcome == "handled" else "event already handled; redelivery ignored")
            return outcome

    async def _handle_alone(self, envelope: Envelope, event: Any, handler: Handler, record: ConsumerRecord) -> str:
        with collector_paused():
            async with self._uow() as uow:
                uow.cause_event_id, uow.cause = envelope.id, envelope
                if not await uow.claim(envelope, record):
                    return "duplicate"
                await handler(uow, event)
                await uow.commit()
        return "handled"

    async def _failed(self, envelope: Envelope, record: ConsumerRecord, exc: Exception) -> str:
        """Count the failure where every replica sees it; redeliver, or dead-letter at the last attempt.

        The count lives in the service's database, not in this process: after a restart or a
        rebalance that hands the partition to another replica, the attempts carry on.
        """
        error = "".join(traceback.format_exception_only(exc)).strip()
        attempts = await self._failures.record(envelope.id, record, error)
        if attempts < self._max_attempts:
            log.warning("handler failed; the event will be redelivered", error=repr(exc), attempt=attempts)
            await asyncio.sleep(0.2 * attempts)
            raise exc
        if not await self._failures.was_dead_lettered(envelope.id):
            await self.dead_letter(record, error)
        return "dead-lettered"

    async def dead_letter(self, record: ConsumerRecord, error: str) -> None:
        await self.dead_letters.send(record, error)


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)

