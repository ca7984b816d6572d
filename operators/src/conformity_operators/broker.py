"""The operator's access to the broker: read topics to their end, follow them live, republish.

Reading uses manual partition assignment and no consumer group: an operator looking at the
streams must never take partitions away from a service or commit offsets in its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from conformity_shared import topics
from conformity_operators.errors import BrokerUnreachable
from conformity_operators.events_view import EventView, from_record
from conformity_operators.settings import OperatorSettings

CONNECT_TIMEOUT = 10.0
REFRESH_SECONDS = 3.0  # how often a live reader looks for topics and partitions created since it started


def quiet_kafka_logs() -> None:
    """aiokafka logs every failed connection attempt at ERROR; the operator gets one clear message instead."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def resolve_topics(names: Sequence[str] | None) -> list[str]:
    """`certificates` or `certificates.events` -> `certificates.events`; nothing given -> all four streams."""
    if not names:
        return list(topics.ALL)
    resolved = []
    for name in names:
        resolved.append(name if "." in name else f"{name}.events")
    return resolved


@contextlib.asynccontextmanager
async def _consumer(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    quiet_kafka_logs()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="conformity-operator",
        request_timeout_ms=int(CONNECT_TIMEOUT * 1000),
        **OperatorSettings().kafka_access().client_settings(),  # the read-only principal
    )
    try:
        await asyncio.wait_for(consumer.start(), CONNECT_TIMEOUT)
    except (KafkaError, OSError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await consumer.stop()
        raise BrokerUnreachable(bootstrap, _why(exc)) from None
    try:
        yield consumer
    finally:
        await consumer.stop()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:.0f} s"
    if isinstance(exc, KafkaConnectionError):
        return "connection refused"
    return exc.__class__.__name__


async def existing_topics(bootstrap: str) -> set[str]:
    async with _consumer(bootstrap) as consumer:
        return set(await consumer.topics())


async def _partitions(consumer: AIOKafkaConsumer, wanted: Iterable[str]) -> list[TopicPartition]:
    # A fresh metadata snapshot: the consumer's own cache does not learn of topics created
    # after it started (what `consumer.topics()` does, keeping the partitions too).
    cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
    found = []
    for topic in wanted:
        found.extend(TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ()))
    return found


async def _seek(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition], *, beginning: bool) -> None:
    """Position at concrete offsets: seek_to_beginning/end only request a reset, which can race
    with the reset that assign() starts by itself."""
    offsets = await (consumer.beginning_offsets if beginning else consumer.end_offsets)(list(partitions))
    for tp in partitions:
        consumer.seek(tp, offsets[tp])


def _in_time_order(batch: dict[TopicPartition, list]) -> list[EventView]:  # type: ignore[type-arg]
    views = [from_record(r) for records in batch.values() for r in records]
    return sorted(views, key=lambda v: (v.time, v.topic, v.partition, v.offset))


async def read_topics(bootstrap: str, wanted: Sequence[str], timeout: float = 60.0) -> list[EventView]:
    """Every record of the wanted topics (those that exist), from the beginning to their end now."""
    async with _consumer(bootstrap) as consumer:
        partitions = await _partitions(consumer, wanted)
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await _seek(consumer, partitions, beginning=True)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        views: list[EventView] = []
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise BrokerUnreachable(bootstrap, f"reading {', '.join(wanted)} took longer than {timeout:.0f} s")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                views.extend(from_record(r) for r in records if r.offset < ends[tp])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(views, key=lambda v: (v.time, v.topic, v.partition, v.offset))


async def follow_topics(
    bootstrap: str, wanted: Sequence[str], *, from_beginning: bool, on_ready: Callable[[], None] | None = None
) -> AsyncIterator[EventView]:
    """Records of the wanted topics as they arrive (after those already there, if `from_beginning`)."""
    async with _consumer(bootstrap) as consumer:
        assigned: set[TopicPartition] = set()
        first_look = True
        next_refresh = 0.0
        while True:
            if time.monotonic() >= next_refresh:
                partitions = set(await _partitions(consumer, wanted))
                added = partitions - assigned
                if added:
                    # assign() forgets positions: keep those we have, start the new ones.
                    kept = {tp: await consumer.position(tp) for tp in assigned}
                    consumer.assign(list(partitions))
                    for tp, offset in kept.items():
                        consumer.seek(tp, offset)
                    fresh = sorted(added, key=lambda tp: (tp.topic, tp.partition))
                    # A partition born after we started is new in full.
                    await _seek(consumer, fresh, beginning=from_beginning or not first_look)
                    assigned = partitions
                if first_look and on_ready:
                    on_ready()  # positioned: whatever is published from now on will be read
                first_look = False
                next_refresh = time.monotonic() + REFRESH_SECONDS
            if not assigned:
                await asyncio.sleep(0.5)
                continue
            batch = await consumer.getmany(timeout_ms=500)
            for view in _in_time_order(batch):
                yield view


async def republish(
    bootstrap: str, topic: str, key: str | None, value: bytes, headers: Sequence[tuple[str, bytes]]
) -> tuple[int, int]:
    """Publish a record as given (bytes and headers untouched); returns its partition and offset."""
    quiet_kafka_logs()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, client_id="conformity-operator",
                                **OperatorSettings().kafka_access(replay=True).client_settings())
    try:
        await asyncio.wait_for(producer.start(), CONNECT_TIMEOUT)
    except (KafkaError, OSError, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise BrokerUnreachable(bootstrap, _why(exc)) from None
    try:
        sent = await producer.send_and_wait(
            topic, value=value, key=key.encode() if key is not None else None,
            headers=list(headers),
        )
        return sent.partition, sent.offset
    finally:
        await producer.stop()
