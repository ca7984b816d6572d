"""Relay clients: the outbox relay's publishing, with aiokafka and with confluent-kafka (librdkafka).

The same N outbox-shaped rows (a bulk cascade's certificate.suspended events: key, JSON body,
headers stored as the outbox stores them) are published by:
- `aiokafka`: the relay's send path as it was with aiokafka (rows of one batch sent together,
  each row's stored headers decoded, every acknowledgement awaited per batch), with the
  relay's former settings (`kafka_tools.relay_like_producer`);
- `confluent-kafka`: the same batches through the relay's producer now
  (`conformity_shared.relay_producer.RelayProducer`: librdkafka, idempotent, acks=all, the same
  linger and batch size), every delivery report awaited per batch;
- baseline: bare aiokafka producing the prepared records at once, as the bulk cascade's
  baseline does (no outbox rows, no batches).

Each client runs `rounds` times, alternating, in the harness's process against the same
broker and topic; a run's time is from the first send to the last acknowledgement. The CPU
figure is the whole process's (every thread, librdkafka's included) per record.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from conformity_devstack.factories import new_uscc
from conformity_devstack.kafka_config import ADMIN
from conformity_devstack.testing import access
from conformity_shared.envelope import decode_headers, encode_headers
from conformity_shared.messaging import RELAY_LINGER_MS
from conformity_shared.relay_producer import RelayProducer, producer_config

from bench import payloads
from bench.context import Context
from bench.kafka_tools import create_topics, relay_like_producer
from bench.report import Figure, Section, progress

TOPIC = "bench.relay_clients"
RELAY_BATCH = 5000  # CONFORMITY_OUTBOX_BATCH_SIZE's default: the relay's rows per round
Row = tuple[str, str, bytes, bytes]  # topic, key, stored headers, payload: what the relay selects
Publish = Callable[[list[Row]], Awaitable[None]]


def outbox_rows(n: int) -> list[Row]:
    """N certificate.suspended rows of one revoked body, as `UnitOfWork.emit` stores them."""
    rng = random.Random(20261126)
    body, holders = new_uscc(rng), [new_uscc(rng) for _ in range(1000)]
    rows = []
    for i in range(n):
        key, value, headers = payloads.certificate_suspended(f"CERT-{i:08d}", body, holders[i % len(holders)],
                                                             "issuing_body_revoked")
        rows.append((TOPIC, key, encode_headers(headers), value))
    return rows


async def _aiokafka_batches(producer: AIOKafkaProducer, rows: list[Row]) -> None:
    """The relay's send path (`OutboxRelay._send`), batch by batch."""
    for start in range(0, len(rows), RELAY_BATCH):
        futures = [await producer.send(topic, value=payload, key=key.encode(), headers=decode_headers(headers))
                   for topic, key, headers, payload in rows[start:start + RELAY_BATCH]]
        await asyncio.gather(*futures)


async def _bare_aiokafka(producer: AIOKafkaProducer, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    futures = [await producer.send(TOPIC, value, key=key, headers=headers) for key, value, headers in records]
    await asyncio.gather(*futures)


def _relay_producer(bootstrap: str, client_id: str) -> RelayProducer:
    """The relay's producer and settings, with the baselines' SASL/SCRAM access."""
    return RelayProducer(producer_config(bootstrap, client_id, RELAY_LINGER_MS, access(ADMIN).librdkafka_settings()))


async def _confluent_batches(producer: RelayProducer, rows: list[Row]) -> None:
    """The relay's send path (`OutboxRelay._send`), batch by batch."""
    for start in range(0, len(rows), RELAY_BATCH):
        await producer.publish((topic, payload, key, decode_headers(headers))
                               for topic, key, headers, payload in rows[start:start + RELAY_BATCH])


async def _timed(publish: Callable[[], Awaitable[None]], n: int) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await publish()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"seconds": wall, "records_per_second": n / wall, "cpu_us_per_record": 1e6 * cpu / n}


async def _clients(ctx: Context, rows: list[Row], rounds: int) -> dict[str, list[dict[str, float]]]:
    """Every client `rounds` times, alternating, so that each sees the machine's changing load."""
    records = [(key.encode(), payload, decode_headers(headers)) for _t, key, headers, payload in rows]
    aio = relay_like_producer(ctx.bootstrap, "bench-relay-aiokafka")
    rdk = _relay_producer(ctx.bootstrap, "bench-relay-confluent")
    await aio.start()
    try:
        await aio.send_and_wait(TOPIC, b"{}", key=b"warm-up")  # metadata and producer ids in place
        await _confluent_batches(rdk, rows[:1])
        runs: dict[str, list[dict[str, float]]] = {"aiokafka": [], "confluent": [], "bare": []}
        for _ in range(rounds):
            runs["aiokafka"].append(await _timed(lambda: _aiokafka_batches(aio, rows), len(rows)))
            runs["confluent"].append(await _timed(lambda: _confluent_batches(rdk, rows), len(rows)))
            runs["bare"].append(await _timed(lambda: _bare_aiokafka(aio, records), len(rows)))
            progress("  " + ", ".join(f"{k} {v[-1]['records_per_second']:,.0f}/s" for k, v in runs.items()))
    finally:
        await aio.stop()
        await rdk.stop()
    return runs


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The fastest round: on a shared machine the slower ones measure other work too."""
    return max(runs, key=lambda r: r["records_per_second"])


async def run(ctx: Context) -> Section:
    n = ctx.sizes.relay_records
    await create_topics(ctx.bootstrap, [TOPIC])
    rows = outbox_rows(n)
    runs = await _clients(ctx, rows, ctx.sizes.relay_rounds)
    best = {name: _best(r) for name, r in runs.items()}
    section = Section("relay_clients")
    section.details.update({"records": n, "relay_batch": RELAY_BATCH, "rounds": runs, "best": best,
                            "record_bytes": payloads.size((rows[0][1], rows[0][3], decode_headers(rows[0][2])))})
    for name, what in (("aiokafka", "aiokafka, the relay's former producer"),
                       ("confluent", "confluent-kafka (librdkafka), the relay's producer now")):
        section.figures.append(Figure(
            "relay clients", f"{what}, {n:,} outbox rows acknowledged", "records/s",
            best[name]["records_per_second"], best["bare"]["records_per_second"],
            "bare aiokafka producing the same records at once", "higher",
            note=f"{best[name]['cpu_us_per_record']:.0f} us CPU/record (bare {best['bare']['cpu_us_per_record']:.0f})",
        ))
    progress(f"  confluent-kafka / aiokafka: {best['confluent']['records_per_second'] / best['aiokafka']['records_per_second']:.2f}x")
    return section
