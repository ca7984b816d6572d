"""The outbox relay's producer: confluent-kafka (librdkafka, in C) behind a small async interface.

Measured side by side with aiokafka on the relay's own batches (`bench/relay_clients.py`,
BENCHMARKS.md): librdkafka published the same records 1.9 to 5 times faster, for 2.1 to 2.8
times less CPU per record, as it builds batches and requests and handles acknowledgements in
C threads where aiokafka does all of it in Python.
The relay keeps every guarantee it had with aiokafka:

- **Acknowledged before marked.** `publish` returns only once the broker has acknowledged every
  record of the batch (a delivery report per record, `acks=all`); any failed report raises, and
  the relay then leaves the batch's rows unpublished and sends them again.
- **Order per aggregate.** One producer, records handed over in `seq` order; idempotence
  (`enable.idempotence`) keeps each partition's order through librdkafka's retries and writes no
  copies of its own. The partitioner is Java's and aiokafka's (murmur2 of the key), so a key
  goes to the same partition as the events published before the change, and as any other
  producer of the platform would send it.
- **Same access.** The service's SASL/SCRAM principal, from `KafkaAccess.librdkafka_settings`.

librdkafka calls delivery reports from `poll`/`flush`; the relay waits for them by flushing in a
worker thread in short slices, so the event loop never blocks and a cancelled wait (SIGTERM)
returns within one slice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

# librdkafka's settings for the relay: what aiokafka's producer had (idempotent, acks=all, the
# linger and batch size of `outbox.RELAY_LINGER_MS`, a 30 s request timeout), and Java's partitioner.
DELIVERY_TIMEOUT_MS = 30000
_FLUSH_SLICE_SECONDS = 0.1


def producer_config(bootstrap_servers: str, client_id: str, linger_ms: int, access: dict[str, Any]) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "enable.idempotence": True,  # acks=all, order kept through retries, no copies from them
        "acks": "all",
        "linger.ms": linger_ms,
        "batch.size": 256 * 1024,
        "request.timeout.ms": 30000,
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,  # a record not acknowledged by then is reported failed
        "partitioner": "murmur2_random",  # Java's and aiokafka's: murmur2 of the key
        # librdkafka's own messages (a broker that cannot be reached...) go to the service's logs,
        # not to stderr; they are handed over when the relay flushes.
        "logger": logging.getLogger("conformity.outbox.librdkafka"),
        **access,
    }


class _Deliveries:
    """The delivery reports one `publish` waits for.

    Reports arrive on whichever thread flushes (a dead-letter send may flush while the relay
    does): each is appended to a list, which is safe across threads, and counted against the
    records sent."""

    __slots__ = ("sent", "reports")

    def __init__(self) -> None:
        self.sent = 0
        self.reports: list[KafkaError | None] = []

    def report(self, err: KafkaError | None, _msg: Any) -> None:
        self.reports.append(err)

    @property
    def outstanding(self) -> bool:
        return len(self.reports) < self.sent

    def first_error(self) -> KafkaError | None:
        return next((err for err in self.reports if err is not None), None)


class RelayProducer:
    """An idempotent librdkafka producer whose sends are awaited until acknowledged."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._producer: Producer | _Stopped = Producer(config)

    async def publish(self, records: Iterable[tuple[str, bytes, bytes | str | None, list[tuple[str, bytes]]]]) -> int:
        """Send (topic, value, key, headers) records in order; return, with how many, once the broker
        has acknowledged every one; raise KafkaException if any was not."""
        waiting = _Deliveries()
        produce, report = self._producer.produce, waiting.report
        for topic, value, key, headers in records:
            while True:
                try:
                    produce(topic, value, key, headers=headers, on_delivery=report)
                    break
                except BufferError:  # librdkafka's queue is full: let it drain, then go on
                    await asyncio.to_thread(self._producer.poll, _FLUSH_SLICE_SECONDS)
            waiting.sent += 1
        await self._acknowledged(waiting)
        return waiting.sent

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None = None,
                            headers: list[tuple[str, bytes]] | None = None) -> None:
        """One record, acknowledged (as aiokafka's `send_and_wait`: the dead-letter topic uses it)."""
        await self.publish([(topic, value or b"", key, list(headers or []))])

    async def _acknowledged(self, waiting: _Deliveries) -> None:
        # librdkafka reports every record within message.timeout.ms; the deadline is a backstop.
        deadline = time.monotonic() + DELIVERY_TIMEOUT_MS / 1000 + 30
        while waiting.outstanding:
            if time.monotonic() > deadline:
                raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "delivery reports overdue"))
            await asyncio.to_thread(self._producer.flush, _FLUSH_SLICE_SECONDS)
        if (error := waiting.first_error()) is not None:
            raise KafkaException(error)

    async def stop(self) -> None:
        """Wait a little for what is in flight, then drop the rest (its rows are sent again).

        All of it in a worker thread, the producer's destruction included: librdkafka joins its
        own threads then, which must not hold up the event loop (a broker that is away)."""
        held, self._producer = [self._producer], _Stopped()
        await asyncio.to_thread(_close, held)


def _close(held: list[Producer]) -> None:
    producer = held.pop()
    producer.flush(5)
    producer.purge()
    producer.poll(0)
    del producer  # the last reference: destroyed here, in this thread


class _Stopped:
    """A stopped producer: anything still sent through it fails, and its rows are sent again."""

    def __getattr__(self, name: str) -> Any:
        raise KafkaException(KafkaError(KafkaError._STATE, "the relay's producer was stopped"))
