"""Dead letters: what a consumer could not take, kept with why, and taken back only as it was.

A record whose attributes or body do not decode, whose `ce_source` is not the owner of its
topic, or whose handler keeps failing goes to the service's dead-letter topic with its original
bytes and headers plus `dlq_*` headers saying why and where from. Each one is also noted in the
service's database (`consumer_failures`: the attempts, and when it was dead-lettered, with a
digest of the record).

Replaying is deliberately narrow: an operator's replay principal may write only to the service's
replay topic, never to a stream, and the service takes a replayed record only if it is a dead
letter of its own, byte for byte (the digest matches); anything else on the replay topic is
refused and logged. So replaying cannot be used to slip in an event nobody published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from aiokafka.structs import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conformity_shared import db, topics
from conformity_shared.outbox import OutboxRelay

log = structlog.get_logger("conformity.dead_letters")

DEAD_LETTER_HEADERS = ("dlq_error", "dlq_consumer", "dlq_original_topic", "dlq_original_partition",
                       "dlq_original_offset", "dlq_time")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def record_digest(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> str:
    """SHA-256 of a record as first published: key, value and headers (in their order)."""
    digest = hashlib.sha256()
    for part in (key or b"", value or b"", *(f"{k}=".encode() + (v or b"") for k, v in headers)):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def failure_key(record: ConsumerRecord) -> str:
    """The event id of a record, or its position when it carries none."""
    for name, value in record.headers or ():
        if name == "ce_id" and value:
            return value.decode("utf-8", "replace")
    return f"{record.topic}:{record.partition}:{record.offset}"


class FailureLog:
    """How often each event's handler has failed, and which records were dead-lettered, kept in
    the service's database so that every replica sees them and restarts keep them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: sa.Table) -> None:
        self._sessions = sessions
        self._table = table

    async def record(self, event_id: str, record: ConsumerRecord, error: str) -> int:
        """Count one more failure of `event_id` (in a transaction of its own); the attempts so far."""
        t, now = self._table, _now()
        async with self._sessions() as session:
            await session.execute(self._upsert(session, event_id, record, error, now).on_conflict_do_update(
                index_elements=["event_id"],
                set_={"attempts": t.c.attempts + 1, "last_error": error[:2000], "last_failed_at": now},
            ))
            attempts = await session.scalar(sa.select(t.c.attempts).where(t.c.event_id == event_id))
            await session.commit()
        return int(attempts or 1)

    def _upsert(self, session: AsyncSession, event_id: str, record: ConsumerRecord, error: str, now: dt.datetime):  # noqa: ANN202
        return db.upsertable_insert(session, self._table).values(
            event_id=event_id, topic=record.topic, partition=record.partition, offset=record.offset,
            attempts=1, last_error=error[:2000], first_failed_at=now, last_failed_at=now,
        )

    async def was_dead_lettered(self, event_id: str, digest: str | None = None) -> bool:
        """True if `event_id` was dead-lettered (and, given `digest`, as exactly that record)."""
        t = self._table
        query = sa.select(t.c.dead_lettered_at, t.c.record_sha256).where(t.c.event_id == event_id)
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return row is not None and row.dead_lettered_at is not None and digest in (None, row.record_sha256)

    async def mark_dead_lettered(self, event_id: str, record: ConsumerRecord, error: str, digest: str) -> None:
        now = _now()
        async with self._sessions() as session:
            await session.execute(self._upsert(session, event_id, record, error, now).values(
                dead_lettered_at=now, record_sha256=digest,
            ).on_conflict_do_update(index_elements=["event_id"],
                                    set_={"dead_lettered_at": now, "record_sha256": digest, "last_error": error[:2000]}))
            await session.commit()


class DeadLetters:
    """A consuming service's dead-letter topic, and the replays it accepts back."""

    def __init__(self, service: str, relay: OutboxRelay, failures: FailureLog) -> None:
        self.service = service
        self.topic = topics.dead_letters(service)
        self.replay_topic = topics.replays(service)
        self._relay = relay
        self.failures = failures

    async def send(self, record: ConsumerRecord, error: str) -> None:
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
        await producer.send_and_wait(self.topic, value=record.value, key=record.key, headers=headers)
        digest = record_digest(record.key, record.value, record.headers or ())
        await self.failures.mark_dead_lettered(failure_key(record), record, error, digest)
        log.error("event dead-lettered", error=error, topic=record.topic, offset=record.offset)

    async def accepted_replay(self, record: ConsumerRecord) -> ConsumerRecord | None:
        """The original record a replay puts back, if it is one of this service's dead letters as it
        was dead-lettered; None (refused, logged) otherwise."""
        headers = list(record.headers or ())
        found = {k: (v or b"").decode("utf-8", "replace") for k, v in headers}
        original = [(k, v) for k, v in headers if k not in DEAD_LETTER_HEADERS]
        try:
            topic, partition, offset = (found["dlq_original_topic"], int(found["dlq_original_partition"]),
                                        int(found["dlq_original_offset"]))
        except (KeyError, ValueError):
            log.warning("replay refused: it does not say where it came from", offset=record.offset)
            return None
        replayed = ConsumerRecord(topic, partition, offset, record.timestamp, record.timestamp_type, record.key,
                                  record.value, record.checksum, record.serialized_key_size,
                                  record.serialized_value_size, tuple(original))
        digest = record_digest(record.key, record.value, original)
        if not await self.failures.was_dead_lettered(failure_key(replayed), digest):
            log.warning("replay refused: not a dead letter of this service as it was", offset=record.offset)
            return None
        return replayed
