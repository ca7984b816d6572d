"""End-to-end fixtures: a restartable Kafka broker and the four services as OS processes.

The whole platform runs as `make run` runs it: the local Apache Kafka broker (`LocalKafka`,
kept for the session because tests stop, kill and restart it) and the four services started
by `Stack` as uvicorn processes, each on its own fresh database: an SQLite file, or a
PostgreSQL database when CONFORMITY_TEST_DATABASE=postgresql (one server from Debian's
packages, one database per service through the `{service}` placeholder of
CONFORMITY_DATABASE_URL). Tests talk to the services over HTTP only, read the topics as an
independent observer, and look into a service's database only to count what a crash could
have lost or doubled.

Every test starts from a healthy platform: a test that left a service or the broker down
(a failure half-way through a fault) is repaired before the next one, so one failure does
not cascade. Figures (events checked, faults injected) are printed at the end of the run and
written to var/e2e/figures-<database>.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
import urllib.error
import uuid
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from conformity_shared import db as shared_db, topics
from conformity_shared.auth import Role
from conformity_devstack.factories import application, as_inspector, certificate_request, inspector_body, new_uscc
from conformity_devstack.kafka import LocalKafka
from conformity_devstack.postgres import LocalPostgres
from conformity_devstack.apps import SERVICES
from conformity_devstack.stack import Stack
from conformity_devstack.testing import ContainerPostgres, Seen, client_settings, eventually, token
from conformity_operators.kafka_provisioning import OPERATORS

from certificates import db as certificates_db, loader

ROOT = Path(__file__).resolve().parents[3]

# The order the modules run in: the flows on a quiet platform first; the faults after; the
# bulk crash (ten thousand events for every consumer to work through) last among the
# platform's tests; the fuzzer, on in-process apps of its own, at the end.
MODULE_ORDER = ("test_flows", "test_poison_messages", "test_broker_restart", "test_crash_recovery", "test_http_fuzzing")

# Settings of the platform under test (on top of the services' defaults, as `make run` has them).
PLATFORM_ENV = {
    "CONFORMITY_LOG_JSON": "false",
    "CONFORMITY_OUTBOX_POLL_SECONDS": "0.5",
    # The certificates scheduler runs its pass every second (flow 5 without a request).
    "CONFORMITY_SCHEDULER_INTERVAL_SECONDS": "1",
    # A regulator may run the due transitions "as of" a later day (as `make run` allows).
    "CONFORMITY_ALLOW_AS_OF": "true",
}


def database_choice() -> str:
    choice = os.environ.get("CONFORMITY_TEST_DATABASE", "sqlite")
    if choice not in ("sqlite", "postgresql", "postgres-container"):
        pytest.fail(f"CONFORMITY_TEST_DATABASE={choice!r}: expected sqlite, postgresql or postgres-container", pytrace=False)
    return choice


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if Path(str(item.fspath)).parent == here]
    mine = [items[i] for i in positions]

    def rank(item: pytest.Item) -> int:
        stem = Path(str(item.fspath)).stem
        return MODULE_ORDER.index(stem) if stem in MODULE_ORDER else len(MODULE_ORDER)

    for position, item in zip(positions, sorted(mine, key=rank)):
        items[position] = item


# --- figures -------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What the run checked and injected, for RELIABILITY.md and the end-of-run summary."""

    database: str
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, test: str, **values: Any) -> None:
        self.tests.setdefault(test, {}).update(values)

    def totals(self) -> dict[str, int]:
        keys = ("events_checked", "faults_injected", "lost", "duplicated_in_effect")
        return {k: sum(int(t.get(k, 0)) for t in self.tests.values()) for k in keys}


_FIGURES: Figures | None = None


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    global _FIGURES
    _FIGURES = Figures(database_choice())
    yield _FIGURES
    out = ROOT / "var" / "e2e"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"figures-{_FIGURES.database}.json").write_text(
        json.dumps({"database": _FIGURES.database, "totals": _FIGURES.totals(), "tests": _FIGURES.tests}, indent=2, default=str)
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES is None or not _FIGURES.tests:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"end-to-end figures ({_FIGURES.database})")
    for test, values in _FIGURES.tests.items():
        write(f"{test}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    write("totals: " + ", ".join(f"{k}={v}" for k, v in _FIGURES.totals().items()))


# --- the broker and the databases ----------------------------------------------------------------


@pytest.fixture(scope="session")
def broker() -> Iterator[LocalKafka]:
    """The project's local broker, always (not an env broker or a container): tests stop and kill it."""
    kafka = LocalKafka(Path(tempfile.mkdtemp(prefix="conformity-e2e-kafka-")))
    try:
        kafka.start()
    except Exception as exc:
        pytest.fail(f"could not start the local Kafka broker: {exc}", pytrace=False)
    yield kafka
    kafka.stop()


@pytest.fixture(autouse=True)
def broker_principals(broker: LocalKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    """During each end-to-end test, this process's readers and the CLI sign in to this broker with
    its principals; after it, the session broker's settings are back for the tests that follow."""
    for name, value in broker.service_env().items():
        monkeypatch.setenv(name, value)


@dataclass
class Databases:
    """Where each service's database is, for the set-up (the bulk loader) and the crash checks."""

    workdir: Path
    server: LocalPostgres | ContainerPostgres | None
    prefix: str = ""

    @classmethod
    def fresh(cls, workdir: Path, server: LocalPostgres | ContainerPostgres | None, services: tuple[str, ...]) -> Databases:
        if server is None:
            return cls(workdir, None)
        prefix = server.create_database().removeprefix("t_")
        for service in services:
            server.create_database(f"t_{prefix}_{service}")
        return cls(workdir, server, prefix)

    @property
    def env(self) -> dict[str, str]:
        """CONFORMITY_DATABASE_URL with the `{service}` placeholder (none for SQLite files under the workdir)."""
        if self.server is None:
            return {}
        return {"CONFORMITY_DATABASE_URL": f"{self.server.url}/t_{self.prefix}_{{service}}"}

    def url(self, service: str) -> str:
        if self.server is None:
            return f"sqlite+aiosqlite:///{self.workdir / f'{service}.db'}"
        return f"{self.server.url}/t_{self.prefix}_{service}"

    @property
    def is_postgres(self) -> bool:
        return self.server is not None

    @asynccontextmanager
    async def engine(self, service: str) -> AsyncIterator[AsyncEngine]:
        engine = shared_db.create_engine(self.url(service))
        try:
            yield engine
        finally:
            await engine.dispose()

    async def scalar(self, service: str, statement: Any) -> Any:
        async with self.engine(service) as engine, engine.connect() as conn:
            return await conn.scalar(statement)

    async def writer_busy(self, service: str, min_seconds: float = 0.05) -> bool:
        """True while a write transaction of the service has been open for `min_seconds` or more.

        SQLite: the write lock cannot be had at once (BEGIN IMMEDIATE fails), twice in a row
        `min_seconds` apart. PostgreSQL: a backend of that database holds a transaction id (it
        has written) in a transaction older than `min_seconds`.
        """
        if self.server is None:
            if not self._sqlite_locked(service):
                return False
            await asyncio.sleep(min_seconds)
            return self._sqlite_locked(service)
        statement = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND backend_xid IS NOT NULL "
            "AND xact_start < now() - make_interval(secs => :age)"
        )
        engine = shared_db.create_engine(f"{self.server.url}/postgres")
        try:
            async with engine.connect() as conn:
                return bool(await conn.scalar(statement, {"db": f"t_{self.prefix}_{service}", "age": min_seconds}))
        finally:
            await engine.dispose()

    def _sqlite_locked(self, service: str) -> bool:
        conn = sqlite3.connect(self.workdir / f"{service}.db", timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()


# --- the platform -----------------------------------------------------------------------------------


@dataclass
class Platform:
    """The running platform as a test sees it: the broker, the services' URLs, their databases."""

    kafka: LocalKafka
    stack: Stack
    databases: Databases

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers

    def url(self, service: str) -> str:
        return self.stack.url(service)

    @asynccontextmanager
    async def clients(self) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
        """One HTTP client per service, on its real port."""
        clients = {s: httpx.AsyncClient(base_url=self.url(s), timeout=60) for s in SERVICES}
        try:
            yield clients
        finally:
            for client in clients.values():
                await client.aclose()

    def health(self, service: str) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url(service) + "/health", timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def log_tail(self, service: str, lines: int = 30) -> str:
        path = self.stack.workdir / f"{service}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def repair(self) -> None:
        """Bring back whatever a previous test left down: the broker, then each service."""
        if not self.kafka.is_running():
            self.kafka.start()
        for service in SERVICES:
            if not self.stack.is_running(service):
                self.stack.start_service(service)
        for service in SERVICES:
            self.stack.wait_healthy(service, 90)


@pytest.fixture(scope="session")
def platform(broker: LocalKafka, postgres: LocalPostgres | ContainerPostgres | None) -> Iterator[Platform]:
    workdir = Path(tempfile.mkdtemp(prefix="conformity-e2e-"))
    databases = Databases.fresh(workdir, postgres, SERVICES)
    stack = Stack(workdir, broker.bootstrap_servers, env={**PLATFORM_ENV, **broker.service_env(), **databases.env})
    try:
        stack.start()
    except RuntimeError as exc:
        stack.stop()
        pytest.fail(f"the platform did not start: {exc}", pytrace=False)
    yield Platform(broker, stack, databases)
    stack.stop()


@pytest.fixture
def up(platform: Platform) -> Platform:
    """The platform, healthy: everything running and answering /health with 200."""
    platform.repair()
    return platform


# --- the world, built over HTTP, and the streams, read as an observer -------------------------------

REGULATOR = token(Role.REGULATOR)


def with_correlation(headers: dict[str, str], correlation_id: str) -> dict[str, str]:
    return {**headers, CORRELATION: correlation_id}


CORRELATION = "X-Correlation-ID"


@dataclass
class Organisation:
    uscc: str
    approval_id: str
    verification_id: str | None
    headers: dict[str, str]  # its own bearer token


class World:
    """The regulator, agencies, labs and inspectors acting through the services' public HTTP APIs."""

    regulator = REGULATOR

    def __init__(self, clients: dict[str, httpx.AsyncClient], databases: Databases) -> None:
        self.databases = databases
        self.approval = clients["approval"]
        self.certificates = clients["certificates"]
        self.supervision = clients["supervision"]
        self.proficiency = clients["proficiency"]

    # The factories' own, for the tests that have only the world at hand.
    new_uscc = staticmethod(new_uscc)
    as_inspector = staticmethod(as_inspector)

    async def approved(self, kind: str, fields: list[str], org: str | None = None) -> Organisation:
        """An organisation approved on the spot (commitment path), as approval answers it."""
        org = org or new_uscc()
        role = Role.AGENCY if kind == "certification_body" else Role.LAB
        headers = token(Role.AGENCY, org=org)
        staff = 12 if kind == "certification_body" else 3
        answer = await self.approval.post(
            "/applications", json=application(org, kind=kind, fields=fields, staff=staff), headers=headers
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "granted", answer.text
        approval = answer.json()["approval"]
        verification = approval["verifications"][0]["id"] if approval["verifications"] else None
        return Organisation(org, approval["id"], verification, token(role, org=org))

    async def approved_body(self, fields: list[str] | None = None, org: str | None = None) -> Organisation:
        return await self.approved("certification_body", fields or ["MS-QMS"], org)

    async def loaded_body(self, count: int) -> tuple[Organisation, set[str]]:
        """A body with `count` certificates from the bulk loader, approved over HTTP; its valid numbers."""
        c, bodies = certificates_db.certificates, certificates_db.bodies
        async with self.databases.engine("certificates") as engine, engine.connect() as conn:
            before = set((await conn.execute(sa.select(bodies.c.uscc))).scalars())
        await loader.load(
            self.databases.url("certificates"), count, seed=uuid.uuid4().int % 10**6, bodies=1, migrate=False
        )
        async with self.databases.engine("certificates") as engine, engine.connect() as conn:
            [org] = set((await conn.execute(sa.select(bodies.c.uscc))).scalars()) - before
            valid = set((await conn.execute(
                sa.select(c.c.number).where(c.c.issuing_body_uscc == org).where(c.c.status == "valid"))).scalars())
        body = await self.approved_body(org=org)

        async def read_model_follows() -> bool:  # certificates learned of the grant (approval.granted.v1)
            approval_id = await self.databases.scalar(
                "certificates", sa.select(bodies.c.approval_id).where(bodies.c.uscc == org)
            )
            return approval_id == body.approval_id

        await eventually(read_model_follows, timeout=30)
        return body, valid

    async def issue(self, body: Organisation, holder: str, field: str = "MS-QMS", timeout: float = 30) -> str:
        """Issue a certificate; until approval.granted has reached certificates, issuance is refused (422)."""
        request = certificate_request(holder, field=field)

        async def issued() -> str | None:
            answer = await self.certificates.post("/certificates", json=request, headers=body.headers)
            if answer.status_code == 201:
                return answer.json()["number"]
            assert answer.status_code == 422, answer.text
            return None

        return await eventually(issued, timeout=timeout)

    async def inspectors(self, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            inspector = f"insp-{uuid.uuid4().hex[:10]}"
            answer = await self.supervision.post("/inspectors", headers=REGULATOR, json=inspector_body(inspector))
            assert answer.status_code == 201, answer.text
            ids.append(inspector)
        return ids

    async def order_inspection(self, target: str, kind: str, inspectors: list[str], **extra: Any) -> dict[str, Any]:
        target_kind = extra.pop("target_kind", "enterprise")
        answer = await self.supervision.post(
            "/inspections", headers=REGULATOR,
            json={"target_uscc": target, "target_kind": target_kind, "kind": kind, "inspector_ids": inspectors, **extra},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def record(self, inspection: str, inspector: str, result: dict[str, Any], correlation_id: str) -> dict[str, Any]:
        answer = await self.supervision.post(
            f"/inspections/{inspection}/result", headers=as_inspector(inspector, correlation_id), json=result
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers[CORRELATION] == correlation_id
        return answer.json()

    async def public(self, number: str) -> dict[str, Any]:
        answer = await self.certificates.get(f"/public/certificates/{number}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def certificate(self, number: str) -> dict[str, Any]:
        answer = await self.certificates.get(f"/certificates/{number}", headers=REGULATOR)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def status_becomes(self, number: str, status: str, timeout: float = 30) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            answer = await self.public(number)
            return answer if answer["status"] == status else None

        return await eventually(reached, timeout=timeout)

    async def approval_of(self, org: Organisation) -> dict[str, Any]:
        answer = await self.approval.get(f"/approvals/{org.approval_id}", headers=REGULATOR)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def target(self, org: str) -> dict[str, Any] | None:
        answer = await self.supervision.get(f"/targets/{org}", headers=REGULATOR)
        return answer.json() if answer.status_code == 200 else None

    async def credit_becomes(self, org: str, credit_class: str, timeout: float = 30) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            found = await self.target(org)
            return found if found and found["credit_class"] == credit_class else None

        return await eventually(reached, timeout=timeout)

    async def directory_view(self, inspection: str, timeout: float = 30, **statuses: str) -> dict[str, str]:
        """The holder's certificates as supervision's directory knows them (from certificate events),
        once they show `statuses` (number -> status)."""

        async def seen() -> dict[str, str] | None:
            answer = await self.supervision.get(f"/inspections/{inspection}", headers=REGULATOR)
            assert answer.status_code == 200, answer.text
            view = {c["number"]: c["status"] for c in answer.json()["holder_certificates"]}
            return view if all(view.get(n) == s for n, s in statuses.items()) else None

        return await eventually(seen, timeout=timeout)


@pytest.fixture
async def world(up: Platform) -> AsyncIterator[World]:
    async with up.clients() as clients:
        yield World(clients, up.databases)


@dataclass
class Record(Seen):
    """One record read from a topic, with where it was (a copy on the wire is a record of its own)."""

    partition: int
    offset: int


class Observer:
    """All four streams read from the beginning, as a consumer that de-duplicates by ce_id (as
    every consumer of the platform does): `of` answers each event once however often it was
    published; `copies` counts its records on the wire.

    It reads with partitions assigned by hand, in no consumer group: nothing can rebalance it
    and make it read records twice, so the copies it counts are the broker's, not its own.
    """

    def __init__(self, bootstrap: str, *names: str) -> None:
        self.topics = names or topics.ALL
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            **client_settings(OPERATORS),  # the operators' read-only principal
        )
        self.seen: list[Record] = []
        self._positions: set[tuple[str, int, int]] = set()
        self._distinct: dict[tuple[str, str | None], dict[str, Record]] = {}
        self._copies: dict[tuple[str, str | None], int] = {}
        self._by_type: dict[str, dict[str, Record]] = {}

    async def __aenter__(self) -> Observer:
        await self.consumer.start()
        # A fresh metadata snapshot: the consumer's own cache knows only the topics it was asked about.
        cluster = await self.consumer._client.fetch_all_metadata()  # noqa: SLF001
        partitions = [TopicPartition(t, p) for t in self.topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        assert partitions, f"no partitions found for {self.topics}"
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def _read(self, seconds: float) -> None:
        batch = await self.consumer.getmany(timeout_ms=int(max(seconds, 0.01) * 1000), max_records=5000)
        for records in batch.values():
            for r in records:
                position = (r.topic, r.partition, r.offset)
                if position in self._positions:
                    continue  # read again after a reconnection: the same record, not a copy
                self._positions.add(position)
                record = Record(
                    topic=r.topic, key=r.key.decode() if r.key else None,
                    headers={k: (v or b"").decode() for k, v in (r.headers or ())}, value=r.value or b"",
                    partition=r.partition, offset=r.offset,
                )
                self.seen.append(record)
                slot = (record.type, record.key)
                self._distinct.setdefault(slot, {}).setdefault(record.id, record)
                self._copies[slot] = self._copies.get(slot, 0) + 1
                self._by_type.setdefault(record.type, {}).setdefault(record.id, record)

    def of(self, ce_type: str, key: str | None = None) -> list[Record]:
        """The distinct events (by ce_id) of a type, for one key or all."""
        if key is None:
            return list(self._by_type.get(ce_type, {}).values())
        return list(self._distinct.get((ce_type, key), {}).values())

    def copies(self, ce_type: str, key: str) -> int:
        """How many records of the type and key are on the wire (producer retries and republished ones included)."""
        return self._copies.get((ce_type, key), 0)

    async def until(self, predicate: Any, timeout: float = 30) -> None:
        """Read until `predicate()` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = [f"{e.type}:{e.key}" for e in self.seen[-10:]]
                raise AssertionError(f"not seen within {timeout}s; {len(self.seen)} records read, the last: {last}")
            await self._read(min(remaining, 0.5))

    async def one(self, ce_type: str, key: str, timeout: float = 30) -> Record:
        """Wait for the event, then keep reading a moment: exactly one (distinct) must be there."""
        await self.until(lambda: self.of(ce_type, key), timeout)
        await self.settle(0.5)
        found = self.of(ce_type, key)
        assert len(found) == 1, f"{len(found)} distinct {ce_type} events for {key}"
        return found[0]

    async def settle(self, seconds: float = 1.0) -> None:
        """Keep reading for a while (to show that nothing more arrives)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await self._read(end - time.monotonic())

    @staticmethod
    def caused(event: Record, correlation_id: str, cause: Record | str) -> None:
        """The event belongs to the chain started by `correlation_id` and was caused by `cause`
        (the event before it, or the request itself, whose id is its correlation id)."""
        cause_id = cause if isinstance(cause, str) else cause.id
        assert event.headers.get("ce_correlationid") == correlation_id, (event.type, event.headers)
        assert event.headers.get("ce_causationid") == cause_id, (event.type, event.headers)


@pytest.fixture
async def observer(up: Platform) -> AsyncIterator[Observer]:
    async with Observer(up.bootstrap) as seen:
        yield seen
