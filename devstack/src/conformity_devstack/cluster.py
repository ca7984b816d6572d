"""The platform as a cluster, for the cluster tier (tests/integration/cluster): the replicas a
test talks to, the observer that audits the streams, and the figures a run reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from conformity_devstack.apps import SERVICES
from conformity_devstack.kafka import LocalKafka
from conformity_devstack.postgres import LocalPostgres
from conformity_devstack.stack import Stack, replica
from conformity_shared import db as shared_db, topics

REPLICAS = 2


@dataclass
class Figures:
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, test: str, **values: Any) -> None:
        self.tests.setdefault(test, {}).update(values)



@dataclass
class Cluster:
    """The platform with REPLICAS processes per service, as an operator sees it."""

    kafka: LocalKafka
    stack: Stack
    postgres: LocalPostgres
    prefix: str

    def url(self, service: str, number: int = 1) -> str:
        return self.stack.url(replica(service, number))

    def database_url(self, service: str) -> str:
        return f"{self.postgres.url}/t_{self.prefix}_{service}"

    def health(self, service: str, number: int) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url(service, number) + "/health", timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def publisher(self, service: str) -> int | None:
        """The replica number whose relay publishes `service`'s outbox now (None while none does)."""
        for number in range(1, REPLICAS + 1):
            if (self.health(service, number) or {}).get("outbox_publisher") == "active":
                return number
        return None

    async def wait_publisher(self, service: str, timeout: float = 30.0, other_than: int | None = None) -> tuple[int, float]:
        """The replica that publishes once one does (and is not `other_than`), and how long it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            number = await asyncio.to_thread(self.publisher, service)
            if number is not None and number != other_than:
                return number, time.monotonic() - start
            await asyncio.sleep(0.1)
        raise AssertionError(f"no replica of {service} became the outbox publisher within {timeout}s")

    def ensure_up(self) -> None:
        """Bring back whatever a test left down: brokers first, then every replica."""
        for node in self.kafka.nodes:
            if not node.is_running():
                self.kafka.start_node(node.node_id)
        for service in SERVICES:
            for number in range(1, REPLICAS + 1):
                if not self.stack.is_running(replica(service, number)):
                    self.stack.start_service(replica(service, number))

    async def scalar(self, service: str, statement: Any) -> Any:
        async with self.engine(service) as engine, engine.connect() as conn:
            return await conn.scalar(statement)

    @contextlib.asynccontextmanager
    async def engine(self, service: str) -> AsyncIterator[Any]:
        engine = shared_db.create_engine(self.database_url(service))
        try:
            yield engine
        finally:
            await engine.dispose()



class Replicas:
    """HTTP clients of every replica of every service; `next(service)` takes them in turn."""

    def __init__(self, cluster: Cluster) -> None:
        self.clients = {
            (s, n): httpx.AsyncClient(base_url=cluster.url(s, n), timeout=60)
            for s in SERVICES for n in range(1, REPLICAS + 1)
        }
        self._turn = dict.fromkeys(SERVICES, 0)

    def of(self, service: str, number: int) -> httpx.AsyncClient:
        return self.clients[(service, number)]

    def next(self, service: str) -> httpx.AsyncClient:
        self._turn[service] += 1
        return self.of(service, 1 + self._turn[service] % REPLICAS)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()



@dataclass(frozen=True)
class Observed:
    topic: str
    partition: int
    offset: int
    key: str
    ce_id: str
    ce_type: str
    body: dict[str, Any]


class Observer:
    """Reads every stream from the beginning, as an independent auditor would, keeping each
    event's first occurrence (by ce_id) in the order its partition delivered it."""

    def __init__(self, bootstrap: str, client: dict[str, Any] | None = None) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics.ALL, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
            enable_auto_commit=False, metadata_max_age_ms=2000, **(client or {}),
        )
        self.first: dict[str, Observed] = {}
        self.order: list[Observed] = []
        self.duplicates = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    self._keep(record)

    def _keep(self, record: Any) -> None:
        headers = {k: (v or b"").decode() for k, v in record.headers or ()}
        ce_id = headers.get("ce_id", "")
        if ce_id in self.first:
            self.duplicates += 1
            return
        seen = Observed(record.topic, record.partition, record.offset, (record.key or b"").decode(), ce_id,
                        headers.get("ce_type", ""), json.loads(record.value or b"{}"))
        self.first[ce_id] = seen
        self.order.append(seen)

    def of_type(self, ce_type: str, keys: set[str] | None = None) -> list[Observed]:
        return [o for o in self.order if o.ce_type == ce_type and (keys is None or o.key in keys)]

    async def until(self, check: Any, timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            await asyncio.sleep(0.2)
        raise AssertionError(f"the observer did not see it within {timeout}s")
