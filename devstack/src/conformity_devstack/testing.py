"""Test and benchmark support: a real broker, in-process services, and a topic reader.

`broker()` chooses, in order: KAFKA_BOOTSTRAP_SERVERS when set; a Kafka container through
testcontainers when a Docker engine answers and has (or can pull) the Kafka image; the
project's local broker otherwise.
CONFORMITY_TEST_BROKER=env|docker|local forces one. It never falls back to a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI

from conformity_devstack.dev_keys import SigningKey, access_token, jwks
from conformity_devstack.kafka_config import ADMIN, Credentials, container_security_env
from conformity_operators.kafka_provisioning import OPERATORS, PRINCIPALS, TopicLayout, provision
from conformity_shared import db, topics
from conformity_shared.auth import Principal, Role
from conformity_shared.envelope import Envelope
from conformity_shared.events import Event
from conformity_shared.kafka_access import KafkaAccess, password_from_file
from conformity_shared.oidc import TokenVerifier
from conformity_devstack.kafka import LocalKafka, free_port, kafka_version, metadata_ready, run_coroutine
from conformity_shared.settings import IdentitySettings, ServiceSettings

POSTGRES_IMAGE = "postgres:15-bookworm"  # the official image docker-compose.yml names too


def kafka_image() -> str:
    return os.environ.get("CONFORMITY_KAFKA_IMAGE", f"apache/kafka:{kafka_version()}")


def _docker_can_run(image: str) -> bool:
    """A Docker engine answers and has the image (or can pull it): only then use containers."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:
        return False
    try:
        client.images.get(image)
        return True
    except Exception:
        pass
    try:
        client.images.pull(image)
        return True
    except Exception:
        return False  # an engine without the image and no registry: the local broker instead


def _testcontainers_without_ryuk() -> None:
    # Ryuk (testcontainers' reaper) is itself an image to pull; where none can be pulled the
    # fixtures' context managers remove their containers instead.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def _single_node_kraft(port: int, admin_password: str) -> dict[str, str]:
    """The apache/kafka image's variables for one secure broker+controller advertised on `port`:
    SASL on both listeners, the admin a static PLAIN user, the deny-by-default authorizer
    (`kafka_config.container_security_env`, as docker-compose.yml configures its node)."""
    return dict(
        KAFKA_NODE_ID="1",
        KAFKA_PROCESS_ROLES="broker,controller",
        KAFKA_LISTENERS="CLIENT://:9092,CONTROLLER://:9093",
        KAFKA_ADVERTISED_LISTENERS=f"CLIENT://127.0.0.1:{port}",
        KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
        KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
        **container_security_env(admin_password, ["CLIENT"], inter_broker="CLIENT"),
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS="10",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR="1",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",  # consumers join at once instead of after 3 s
        KAFKA_NUM_PARTITIONS="3",
    )


@contextlib.contextmanager
def _kafka_container() -> Iterator[dict[str, str]]:
    """A one-node KRaft Kafka in a container, secured and provisioned as compose's is; yields the
    settings the session's processes need to reach it (`LocalKafka.service_env()`'s).

    The image is CONFORMITY_KAFKA_IMAGE (default apache/kafka at the pinned version; here
    containers/build.sh builds one from the same jars). A generic container, since
    testcontainers' KafkaContainer drives Confluent's image scripts. Kafka hands clients the
    address it advertises, so the host port is chosen first and advertised.

    Every principal gets a fresh password, kept in a credentials file of the local broker's
    shape; provisioning (`conformity kafka provision`'s code, as the admin over PLAIN) makes the
    topics, the SCRAM users (the admin's too, so tests may sign in as it like on the local
    broker) and the access rules.
    """
    _testcontainers_without_ryuk()
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    image = kafka_image()
    port = free_port()
    passwords = {user: secrets.token_urlsafe(24) for user in (ADMIN, *PRINCIPALS)}
    admin_password = passwords[ADMIN]
    # The brokers sign in to each other and to the controller as the admin.
    credentials_file = Path(tempfile.mkdtemp(prefix="conformity-test-kafka-")) / "credentials.json"
    Credentials(passwords, controller_password=admin_password).save(credentials_file)
    container = (
        DockerContainer(image)
        .with_bind_ports(9092, port)
        .with_envs(**_single_node_kraft(port, admin_password))
        # The log line says the server started; the metadata request below that it answers.
        .waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(120))
    )
    with container:
        bootstrap = f"127.0.0.1:{port}"
        admin = KafkaAccess("SASL_PLAINTEXT", ADMIN, admin_password, "PLAIN")
        _wait_metadata(bootstrap, 60, admin)
        provision(bootstrap, admin, TopicLayout(), passwords=passwords)
        yield {"CONFORMITY_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CONFORMITY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
               "CONFORMITY_KAFKA_CREDENTIALS_FILE": str(credentials_file)}


class ContainerPostgres:
    """A PostgreSQL server in a container, with the interface of `LocalPostgres`.

    The image is CONFORMITY_POSTGRES_IMAGE (default the official postgres image; here the one
    containers/build.sh builds from Debian's package). testcontainers' PostgresContainer waits
    until psql answers through TCP inside the container, which either image satisfies.
    """

    USER = PASSWORD = "conformity"

    def __init__(self, image: str | None = None) -> None:
        _testcontainers_without_ryuk()
        from testcontainers.community.postgres import PostgresContainer

        self.image = image or os.environ.get("CONFORMITY_POSTGRES_IMAGE", POSTGRES_IMAGE)
        self.container = PostgresContainer(
            self.image, username=self.USER, password=self.PASSWORD, dbname="conformity", driver="asyncpg"
        ).with_command(["postgres", "-c", "max_connections=300", "-c", "fsync=off"])  # as LocalPostgres: many pools

    def start(self) -> ContainerPostgres:
        self.container.start()
        return self

    @property
    def url(self) -> str:
        port = self.container.get_exposed_port(5432)
        return f"postgresql+asyncpg://{self.USER}:{self.PASSWORD}@127.0.0.1:{port}"

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        result = self.container.exec(
            ["psql", "-v", "ON_ERROR_STOP=1", "-U", self.USER, "-d", "conformity", "-c", f'CREATE DATABASE "{name}"']
        )
        if result.exit_code != 0:
            raise RuntimeError(f"CREATE DATABASE {name} failed: {result.output.decode(errors='replace')}")
        return name

    def stop(self) -> None:
        self.container.stop()

    def __enter__(self) -> ContainerPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_metadata(bootstrap: str, timeout: float, as_user: KafkaAccess | None = None) -> None:
    """Until the broker answers a metadata request (of `as_user`, default the operators' principal)."""
    client = (as_user or access()).client_settings()
    deadline = time.monotonic() + timeout
    while not run_coroutine(metadata_ready(bootstrap, **client)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no Kafka broker answers at {bootstrap}")
        time.sleep(0.5)


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """Yield the bootstrap servers of a real Kafka broker for the whole test session."""
    choice = os.environ.get("CONFORMITY_TEST_BROKER", "auto")
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if choice == "env" or (choice == "auto" and given):
        if not given:
            raise RuntimeError("CONFORMITY_TEST_BROKER=env but KAFKA_BOOTSTRAP_SERVERS is not set")
        _wait_metadata(given, 30)
        yield given
    elif choice == "docker" or (choice == "auto" and _docker_can_run(kafka_image())):
        with _kafka_container() as env:
            os.environ.update(env)  # every process of the session finds its principal
            yield env["CONFORMITY_KAFKA_BOOTSTRAP_SERVERS"]
    else:
        with LocalKafka(Path(tempfile.mkdtemp(prefix="conformity-test-kafka-"))) as local:
            os.environ.update(local.service_env())  # every process of the session finds its principal
            yield local.bootstrap_servers


# --- Kafka principals in tests ------------------------------------------------------------------


def access(user: str = OPERATORS) -> KafkaAccess:
    """How `user` connects to the session's broker: from CONFORMITY_KAFKA_SECURITY_PROTOCOL and the
    local broker's credentials file (set by `broker()`); no authentication on a plain broker."""
    protocol = os.environ.get("CONFORMITY_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return KafkaAccess()
    file = Path(os.environ["CONFORMITY_KAFKA_CREDENTIALS_FILE"])
    return KafkaAccess(protocol, user, password_from_file(file, user))


def client_settings(user: str = OPERATORS) -> dict[str, Any]:
    """aiokafka keyword arguments for `user`: `AIOKafkaProducer(bootstrap_servers=..., **client_settings("approval"))`."""
    return access(user).client_settings()


def publisher_settings(topic: str) -> dict[str, Any]:
    """A producer's settings for `topic`, as the service that owns it (the only principal allowed to write it)."""
    return client_settings(topics.owner_of(topic) or ADMIN)


@contextlib.asynccontextmanager
async def producer_for(bootstrap: str, topic: str, **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer that writes `topic` as its owner would (the admin for other topics)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **options, **publisher_settings(topic))
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


class OwnerProducers:
    """`send_and_wait(topic, ...)` through a producer of `topic`'s owner: tests that play another
    service's part write its stream with its credentials, as the broker's access rules require."""

    def __init__(self, bootstrap: str, **options: Any) -> None:
        self._bootstrap = bootstrap
        self._options = options
        self._producers: dict[str, AIOKafkaProducer] = {}

    async def __aenter__(self) -> OwnerProducers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        for producer in self._producers.values():
            await producer.stop()
        self._producers.clear()

    async def send_and_wait(self, topic: str, value: bytes | None = None, **kwargs: Any) -> Any:
        user = topics.owner_of(topic) or ADMIN
        if user not in self._producers:
            producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, **self._options, **client_settings(user))
            await producer.start()
            self._producers[user] = producer
        return await self._producers[user].send_and_wait(topic, value, **kwargs)


def envelope_as_owner(event: Event) -> Envelope:
    """The event's envelope as the service that publishes its topic makes it (its `ce_source`),
    in the current causal context: consumers refuse an event from anyone else."""
    owner = topics.owner_of(event.topic)
    return Envelope.for_event(event, topics.source_of(owner) if owner else "/tests")


async def publish_as_owner(bootstrap: str, *published: Event) -> list[Envelope]:
    """Put events on their topics as their publishing services would (CloudEvents binary mode)."""
    envelopes = []
    for event in published:
        envelope = envelope_as_owner(event)
        async with producer_for(bootstrap, event.topic) as producer:
            await producer.send_and_wait(event.topic, event.model_dump_json().encode(),
                                         key=envelope.subject.encode(), headers=envelope.headers())
        envelopes.append(envelope)
    return envelopes


# --- identity: the tests' issuer and its key ------------------------------------------------------

# The issuer test tokens name. The key is made once per test process and never written anywhere;
# its kid says `dev-`, so no service would accept it outside CONFORMITY_ENV=development.
TEST_ISSUER = "https://issuer.test.invalid"


@functools.cache
def issuer_key_for_tests() -> SigningKey:
    return SigningKey.generate(prefix="dev-test-")


def jwks_for_tests() -> str:
    """The public key set of the test key (JSON), which the services under test are given."""
    return json.dumps(jwks([issuer_key_for_tests()]))


def identity_env() -> dict[str, str]:
    """The identity settings of every app under test (in process, or a process of the stack):
    development, the test issuer, and its keys inline."""
    return {"CONFORMITY_ENV": "development", "CONFORMITY_OIDC_ISSUER": TEST_ISSUER, "CONFORMITY_OIDC_JWKS": jwks_for_tests()}


def sign_token(
    role: Role | str, *, org: str | None = None, inspector_id: str | None = None, subject: str | None = None
) -> str:
    """A bearer token of the test issuer (ValueError if the claims do not fit the role)."""
    return access_token(issuer_key_for_tests(), role, org=org, inspector_id=inspector_id, subject=subject, issuer=TEST_ISSUER)


def token(
    role: Role | str, *, org: str | None = None, inspector_id: str | None = None, subject: str | None = None
) -> dict[str, str]:
    """Authorization header for tests and benchmarks, signed with the test key; an observer's
    token names the observer as its `subject`."""
    return {"Authorization": f"Bearer {sign_token(role, org=org, inspector_id=inspector_id, subject=subject)}"}


async def verified(token: str, key_set: str | None = None, issuer: str = TEST_ISSUER) -> Principal:
    """Who `token` speaks for, as a development service trusting `key_set` (JSON; default the
    tests' key) and `issuer` verifies it; InvalidToken otherwise."""
    settings = IdentitySettings(env="development", oidc_issuer=issuer, oidc_jwks=key_set or jwks_for_tests(), oidc_jwks_url=None)
    return await TokenVerifier.from_settings(settings).verify(token)


# Unit tests point Kafka here: nothing listens, so a test that touches the broker fails loudly.
UNREACHABLE_KAFKA = "127.0.0.1:1"

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def unit_settings(settings_class: type[SettingsT], data_dir: Path, **overrides: Any) -> SettingsT:
    """A service's settings for a unit test: SQLite in `data_dir`, Kafka unreachable, plain logs,
    tokens of the test issuer."""
    identity = {"env": "development", "oidc_issuer": TEST_ISSUER, "oidc_jwks": jwks_for_tests()}
    return settings_class(**{"data_dir": data_dir, "kafka_bootstrap_servers": UNREACHABLE_KAFKA, "log_json": False,
                             **identity, **overrides})


@contextlib.asynccontextmanager
async def migrated_app(create_app: Callable[[SettingsT], FastAPI], settings: SettingsT) -> AsyncIterator[FastAPI]:
    """The service's app over its migrated database, without its lifespan (no relay, no consumers)."""
    application = create_app(settings)
    await db.migrate(f"{settings.service_name}:migrations", settings.resolved_database_url())
    try:
        yield application
    finally:
        await application.state.runtime.engine.dispose()


@contextlib.asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app's routes, in process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=30) as client:
        yield client


async def migrate_app(app: FastAPI) -> None:
    """Bring the app's database to the newest schema: what `conformity-migrate` does before a start.
    An app without a database of its own (the dashboard) has nothing to migrate."""
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        return
    settings = runtime.settings
    await db.migrate(f"{settings.service_name}:migrations", settings.resolved_database_url())


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run one service in this process: its migrations first (the one-shot step of a deployment),
    then its lifespan (relay, consumers, jobs)."""
    await migrate_app(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=30) as client:
            yield client


@dataclass
class Seen:
    topic: str
    key: str | None
    headers: dict[str, str]
    value: bytes
    partition: int

    @property
    def type(self) -> str:
        return self.headers.get("ce_type", "")

    @property
    def id(self) -> str:
        return self.headers.get("ce_id", "")

    def json(self) -> Any:
        import json

        return json.loads(self.value)


async def group_caught_up(bootstrap: str, group: str, topic: str, timeout: float = 30.0) -> None:
    """Wait until consumer group `group` has committed every record now on `topic` (read as the
    broker's admin, who alone may describe another principal's group); fail after `timeout`."""
    from aiokafka.admin import AIOKafkaAdminClient

    settings = client_settings(ADMIN)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **settings)
    ends = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **settings)
    await admin.start()
    await ends.start()
    try:
        [described] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        wanted = await ends.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            behind = {tp.partition: wanted[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                      for tp in partitions if wanted[tp]}
            if all(gap <= 0 for gap in behind.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"group {group} still behind on {topic} after {timeout}s: {behind}")
            await asyncio.sleep(0.2)
    finally:
        await ends.stop()
        await admin.close()


class TopicReader:
    """Reads topics from the beginning, as an independent observer of what was published (the
    operators' read-only principal; no consumer group, so it commits nothing)."""

    def __init__(self, bootstrap: str, *names: str, user: str = OPERATORS) -> None:
        self._consumer = AIOKafkaConsumer(
            *names,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=2000,
            **client_settings(user),
        )
        self.seen: list[Seen] = []

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def until(self, predicate: Callable[[list[Seen]], bool], timeout: float = 30.0) -> list[Seen]:
        """Read until `predicate(all seen so far)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                types = [s.type for s in self.seen]
                raise AssertionError(f"condition not met within {timeout}s; seen {len(types)} events: {types[-20:]}")
            batch = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batch.values():
                for r in records:
                    self.seen.append(
                        Seen(
                            r.topic,
                            r.key.decode() if r.key else None,
                            {k: (v or b"").decode() for k, v in (r.headers or ())},
                            r.value or b"",
                            r.partition,
                        )
                    )
        return self.seen

    async def settle(self, seconds: float = 1.0) -> list[Seen]:
        """Keep reading for a while (to show that nothing more arrives)."""
        end = time.monotonic() + seconds
        with contextlib.suppress(AssertionError):
            await self.until(lambda _: time.monotonic() > end, timeout=seconds + 0.5)
        return self.seen


async def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Await `check()` until it returns a truthy value (it may be async)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
