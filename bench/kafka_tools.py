"""Kafka pieces the benchmarks share: an observer that timestamps arrivals, a producer set up
like the outbox relay's, topics, and the bare aiokafka process used for the baselines."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from conformity_shared.messaging import RELAY_LINGER_MS
from conformity_devstack.kafka_config import ADMIN
from conformity_devstack.testing import client_settings
from conformity_shared.runtime import ensure_topics

from bench.report import summary

PARTITIONS = 3  # as the services' own topics (CONFORMITY_KAFKA_TOPIC_PARTITIONS default)


def BASELINE_ACCESS() -> dict[str, Any]:  # noqa: N802 - reads like the constant it is per run
    """The baselines connect as the broker's admin, with the same SASL/SCRAM as the services."""
    return client_settings(ADMIN)


def relay_like_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """aiokafka with the outbox relay's settings (idempotent, acks=all, linger RELAY_LINGER_MS,
    256 KiB batches: `relay_producer.producer_config`), so that a baseline differs from the
    platform by the platform's work, not by client tuning. The relay itself now publishes with
    librdkafka; `relay_clients` compares the two."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        linger_ms=RELAY_LINGER_MS,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
        **BASELINE_ACCESS(),
    )


async def create_topics(bootstrap: str, names: Iterable[str]) -> None:
    await ensure_topics(bootstrap, list(names), PARTITIONS, client=BASELINE_ACCESS())


async def topic_partitions(bootstrap: str, names: Iterable[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **BASELINE_ACCESS())
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    found = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    missing = set(names) - {tp.topic for tp in found}
    if missing:
        raise RuntimeError(f"no partitions for {sorted(missing)}: create the topics first")
    return sorted(found)


@dataclass
class Arrivals:
    times: list[float] = field(default_factory=list)
    keys: dict[str, float] = field(default_factory=dict)  # first arrival per key


class Observer:
    """Reads topics from their current end (no consumer group: nothing to join or commit) and
    notes when each event arrives here, by CloudEvents type and Kafka key."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.by_type: dict[str, Arrivals] = {}
        self.bytes_by_type: dict[str, int] = {}  # value + headers of the last record of each type

    async def __aenter__(self) -> Observer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=100, max_partition_fetch_bytes=4 * 1024 * 1024, **BASELINE_ACCESS(),
        )
        partitions = await topic_partitions(self._bootstrap, self._topics)
        await consumer.start()
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve the end offsets now, not at the first fetch
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="bench-observer")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    ce_type = ""
                    size = len(r.value or b"")
                    for k, v in r.headers or ():
                        size += len(k) + len(v or b"")
                        if k == "ce_type":
                            ce_type = (v or b"").decode()
                    arrivals = self.by_type.get(ce_type)
                    if arrivals is None:
                        arrivals = self.by_type[ce_type] = Arrivals()
                    arrivals.times.append(now)
                    key = r.key.decode() if r.key else ""
                    arrivals.keys.setdefault(key, now)
                    self.bytes_by_type[ce_type] = size
            if batch:
                self._changed.set()

    def arrivals(self, ce_type: str) -> Arrivals:
        return self.by_type.setdefault(ce_type, Arrivals())

    async def until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = {t: len(a.times) for t, a in self.by_type.items()}
                raise TimeoutError(f"{what}: not seen within {timeout:.0f}s (seen so far: {seen})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            except TimeoutError:
                pass

    async def key_arrival(self, ce_type: str, key: str, timeout: float = 60.0) -> float:
        arrivals = self.arrivals(ce_type)
        await self.until(lambda: key in arrivals.keys, timeout, f"{ce_type} {key}")
        return arrivals.keys[key]

    async def count(self, ce_type: str, n: int, timeout: float) -> Arrivals:
        arrivals = self.arrivals(ce_type)
        await self.until(lambda: len(arrivals.keys) >= n, timeout, f"{n} x {ce_type}")
        return arrivals


def message_file(path: Path, messages: Iterable[tuple[str, bytes, list[tuple[str, bytes]]]]) -> Path:
    """Messages (key, value, headers) for the bare process, one JSON line each."""
    with path.open("w") as out:
        for key, value, headers in messages:
            out.write(json.dumps([key, value.decode(), [[k, v.decode()] for k, v in headers]]) + "\n")
    return path


class BareKafka:
    """The raw baseline in its own OS process, as a service would be: bench/bare_kafka.py."""

    def __init__(self, *args: str, log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_kafka", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def line(self, timeout: float = 120.0) -> str:
        assert self.process.stdout is not None
        out = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        if not out:
            raise RuntimeError(f"bare kafka process exited ({self.process.poll()}); see {self._log.name}")
        return out.decode().strip()

    async def expect(self, word: str, timeout: float = 120.0) -> str:
        while True:
            got = await self.line(timeout)
            if got.startswith(word):
                return got

    def say(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word.encode() + b"\n")
        self.process.stdin.flush()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


async def client_costs(bootstrap: str, rounds: int = 200) -> dict[str, float]:
    """What one Kafka round trip costs on this broker, to read the figures by: a produce
    acknowledged with the relay's settings and with linger 2 ms, and one offset commit."""
    topic = "bench.probe"
    await create_topics(bootstrap, [topic])
    costs: dict[str, float] = {}
    for name, linger in (("produce_ack_relay_settings", RELAY_LINGER_MS), ("produce_ack_linger_2", 2)):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=linger,
                                    **BASELINE_ACCESS())
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"x" * 500, key=b"k")
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                await producer.send_and_wait(topic, b"x" * 500, key=b"k")
                times.append(time.perf_counter() - t)
        finally:
            await producer.stop()
        costs[f"{name}_p50_ms"] = summary(times)["p50_ms"]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="bench-probe", **BASELINE_ACCESS(),
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.getone()
        times = []
        for _ in range(rounds // 2):
            t = time.perf_counter()
            await consumer.commit()
            times.append(time.perf_counter() - t)
    finally:
        await consumer.stop()
    costs["offset_commit_p50_ms"] = summary(times)["p50_ms"]
    return costs
