"""The composition every service shares: database, outbox relay, Kafka broker, consumers,
periodic jobs and the FastAPI app (its HTTP plumbing is in `web`).

A service's `app.create_app(settings)` describes itself in a `ServiceDefinition` (its tables,
migrations, routers, event handlers, periodic jobs) and calls `create_service_app`; nothing is
wired at import time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ClusterAuthorizationFailedError, TopicAlreadyExistsError, TopicAuthorizationFailedError
from fastapi import APIRouter, Depends, FastAPI, Request
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conformity_shared import db, jobs, structured_logging, topics, web
from conformity_shared.clock import Clock
from conformity_shared.events import Event
from conformity_shared.oidc import TokenVerifier
from conformity_shared.messaging import EventConsumer, FailureLog, Handler, OutboxRelay, UnitOfWork
from conformity_shared.publisher_lease import notification_channel
from conformity_shared.settings import ServiceSettings

log = structlog.get_logger("conformity.runtime")

S = TypeVar("S", bound=ServiceSettings)


@dataclass
class ServiceRuntime(Generic[S]):
    """Everything a request or an event handler needs, built once per app."""

    settings: S
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: sa.Table
    inbox: sa.Table
    relay: OutboxRelay
    broker: KafkaBroker
    consumer: EventConsumer | None = None
    # What this service's use cases need besides settings and clock, built once (approval: its Policy).
    context: Any = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Closed when the service stops, before its engine (what a context opened of its own).
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def unit_of_work(self) -> UnitOfWork:
        name = self.settings.service_name
        channel = notification_channel(name) if db.is_postgres(self.engine) else None
        return UnitOfWork(self.sessions, self.outbox, self.inbox, f"/conformity/{name}", self.relay.wake, self.clock,
                          channel)

    def every(self, job: PeriodicJob) -> None:
        """Run `job` every `job.interval_seconds` until the service stops, once per period across
        every replica (the first to claim the period runs it); a failing pass is logged."""
        job_runs = self.outbox.metadata.tables["job_runs"]
        period = dt.timedelta(seconds=job.interval_seconds)

        async def loop() -> None:
            while True:
                await asyncio.sleep(job.interval_seconds)
                try:
                    if await jobs.claim_period(self.engine, job_runs, job.name, period, self.clock.now()):
                        await job.run()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the next pass tries again
                    log.warning("periodic job failed", job=job.name, error=repr(exc))

        self.tasks.append(asyncio.create_task(loop(), name=job.name))

    async def prune_messaging(self) -> dict[str, int]:
        """Delete published outbox rows and old inbox rows past their retention (RELIABILITY.md)."""
        s = self.settings
        return await jobs.prune(
            self.engine, self.outbox, self.inbox, now=self.clock.now(),
            outbox_retention=dt.timedelta(hours=s.outbox_retention_hours),
            inbox_retention=dt.timedelta(hours=s.inbox_retention_hours),
        )


async def current_runtime(request: Request) -> ServiceRuntime[Any]:
    # async: FastAPI runs a plain function dependency in a worker thread, a hand-off per request.
    return request.app.state.runtime


# The runtime of the app serving the request, for routes: `runtime: RuntimeDep`.
RuntimeDep = Annotated[ServiceRuntime[Any], Depends(current_runtime)]


@dataclass(frozen=True)
class PeriodicJob:
    """A job a service runs on its own every `interval_seconds` (see each service's scheduler.py)."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes one service: its description, tables, routes, reactions and jobs.

    `handlers`, `jobs` and `context` are functions of the built runtime or settings, so that
    they are wired when the app is created, never at import time.
    """

    title: str
    description: str
    metadata: sa.MetaData
    migrations: str
    routers: Sequence[APIRouter] = ()
    consumes: Sequence[str] = ()
    handlers: Callable[[ServiceRuntime[Any]], Mapping[type[Event], Handler]] | None = None
    publishes: Sequence[type[Event]] = ()
    jobs: Callable[[ServiceRuntime[Any]], Sequence[PeriodicJob]] | None = None
    context: Callable[[Any], Any] | None = None
    # Long-running loops every replica runs side by side (notifications' delivery worker), each
    # coordinating with the other replicas through the database, unlike a once-per-period job.
    workers: Callable[[ServiceRuntime[Any]], Sequence[BackgroundWorker]] | None = None


@dataclass(frozen=True)
class BackgroundWorker:
    """A loop a service runs in every replica until it stops (cancelled on shutdown)."""

    name: str
    run: Callable[[], Awaitable[None]]


class TopicsMissing(RuntimeError):
    """Topics the service needs do not exist and it may not create them: provisioning creates them."""


async def ensure_topics(
    bootstrap: str, names: Sequence[str], partitions: int, timeout: float = 60.0, *,
    replication_factor: int = 1, min_insync_replicas: int = 1, client: dict[str, Any] | None = None,
) -> None:
    """Make sure the topics exist, waiting for the broker up to `timeout` seconds.

    Missing ones are created (with their replication) where the broker allows it; a broker
    with access rules does not let services create topics, so there they must have been
    provisioned (`conformity kafka provision`), and a missing one stops the service, named.
    """
    deadline = time.monotonic() + timeout
    configs = {"min.insync.replicas": str(min_insync_replicas)}
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, **(client or {}))
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [NewTopic(n, partitions, replication_factor, topic_configs=configs) for n in names if n not in existing]
            await _create(admin, missing)
            return
        except TopicsMissing:
            raise
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka broker at {bootstrap} not reachable: {exc!r}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def _create(admin: AIOKafkaAdminClient, missing: list[NewTopic]) -> None:
    if not missing:
        return
    try:
        await admin.create_topics(missing)
    except TopicAlreadyExistsError:
        pass
    except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
        names = ", ".join(t.name for t in missing)
        raise TopicsMissing(f"topics {names} do not exist and this service may not create them: "
                            "provision the broker first (`conformity kafka provision`)") from None


def service_topics(service: str, consumes: Sequence[str]) -> list[str]:
    """The topics one service uses: its stream, its dead letters, and (if it consumes) its replays
    and the streams it reads."""
    own = [stream for stream, owner in topics.OWNERS.items() if owner == service]
    reading = [*consumes, topics.replays(service)] if consumes else []
    return [*own, topics.dead_letters(service), *reading]


def build_runtime(settings: S, definition: ServiceDefinition) -> ServiceRuntime[S]:
    """The database, the relay and the broker of one service, with its consumer subscribed."""
    engine = db.create_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size,
                              max_overflow=settings.db_max_overflow)
    sessions = db.session_factory(engine)
    outbox, inbox = definition.metadata.tables["outbox"], definition.metadata.tables["inbox"]
    access = settings.kafka_access()
    relay = OutboxRelay(
        engine, outbox, settings.kafka_bootstrap_servers, service=settings.service_name,
        poll_seconds=settings.outbox_poll_seconds, batch_size=settings.outbox_batch_size,
        producer_settings=access.librdkafka_settings(),
    )
    broker = KafkaBroker(settings.kafka_servers(), client_id=settings.service_name, logger=None,
                         security=access.faststream_security())
    context = definition.context(settings) if definition.context else None
    runtime = ServiceRuntime(settings, settings.clock(), engine, sessions, outbox, inbox, relay, broker, context=context)
    if definition.handlers and definition.consumes:
        handlers = definition.handlers(runtime)
        failures = FailureLog(sessions, definition.metadata.tables["consumer_failures"])
        runtime.consumer = EventConsumer(settings.service_name, runtime.unit_of_work, relay, handlers, failures,
                                         max_attempts=settings.consumer_max_attempts)
        _subscribe(broker, runtime.consumer, definition.consumes, settings)
    for model in definition.publishes:  # documentation only: the outbox relay does the publishing
        broker.publisher(model.topic, title=f"{model.topic}:{model.ce_type}", schema=model, description=model.__doc__)
    return runtime


def create_service_app(settings: ServiceSettings, definition: ServiceDefinition) -> FastAPI:
    """Build one service's FastAPI app; its lifespan migrates, starts the relay, the consumers and the jobs."""
    structured_logging.configure(settings.log_level, settings.log_json)
    runtime = build_runtime(settings, definition)
    app = FastAPI(
        title=definition.title, description=definition.description, version="1.0.0",
        lifespan=_lifespan(runtime, definition),
    )
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier.from_settings(settings)  # refuses development identity in production
    web.install(app, runtime, definition.title, definition.description)
    for router in definition.routers:
        app.include_router(router)
    return app


def create_reader_app(settings: ServiceSettings, definition: ServiceDefinition,
                      routers: Sequence[APIRouter]) -> FastAPI:
    """A process that serves only some read routes of a service (its public verification), for
    running beside the service as extra processes (`uvicorn --workers N`) to use more cores.

    It reads the service's database and writes nothing: no relay, no consumers, no jobs, so none
    of the outbox's or the inbox's guarantees is concerned, and SQLite's one-writer rule holds
    (RELIABILITY.md). Its HTTP edge, error answers and correlation ids are the service's own.
    """
    structured_logging.configure(settings.log_level, settings.log_json)
    runtime = build_runtime(settings, dataclasses.replace(definition, handlers=None, consumes=()))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await db.require_current_schema(runtime.engine, settings.service_name, definition.migrations)
        try:
            yield
        finally:
            for close in runtime.closing:
                await close()
            await runtime.engine.dispose()

    app = FastAPI(title=f"{definition.title}: public reads", description=definition.description, version="1.0.0",
                  lifespan=lifespan)
    app.state.runtime = runtime
    web.install_edge(app, settings)
    web.install_text_rules(app)
    web.install_correlation(app)
    web.install_error_answers(app)
    web.install_reader_health(app, runtime)
    for router in routers:
        app.include_router(router)
    return app


def _lifespan(runtime: ServiceRuntime[Any], definition: ServiceDefinition) -> Callable[[FastAPI], Any]:
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.token_verifier.check_at_start()
        settings.refuse_unsafe_kafka()  # no unauthenticated broker, development password or local file in production
        await db.require_current_schema(runtime.engine, settings.service_name, definition.migrations)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            service_topics(settings.service_name, definition.consumes),
            settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
            min_insync_replicas=settings.kafka_min_insync_replicas,
            client=settings.kafka_access().client_settings(),
        )
        await _start(runtime, definition)
        log.info("service started", service=settings.service_name, database=runtime.engine.url.render_as_string())
        try:
            yield
        finally:
            await _stop(runtime)

    return lifespan


async def _start(runtime: ServiceRuntime[Any], definition: ServiceDefinition) -> None:
    await runtime.relay.start()
    runtime.relay.wake()  # publish whatever a previous run committed but did not publish
    if runtime.settings.consumers_enabled:
        await runtime.broker.start()
    else:
        await runtime.broker.connect()
    retention = PeriodicJob("outbox-inbox-retention", runtime.settings.retention_interval_seconds,
                            runtime.prune_messaging)
    for job in [retention, *(definition.jobs(runtime) if definition.jobs else ())]:
        runtime.every(job)
    for worker in definition.workers(runtime) if definition.workers else ():
        runtime.tasks.append(asyncio.create_task(worker.run(), name=worker.name))


async def _stop(runtime: ServiceRuntime[Any]) -> None:
    for task in runtime.tasks:
        task.cancel()
    # SIGTERM: a worker mid-request is cancelled; its claim lapses and another replica retries.
    await asyncio.gather(*runtime.tasks, return_exceptions=True)
    await runtime.broker.stop()
    await runtime.relay.stop()
    for close in runtime.closing:
        await close()
    await runtime.engine.dispose()


def _subscribe(broker: KafkaBroker, consumer: EventConsumer, consumes: Sequence[str], settings: ServiceSettings) -> None:
    # NACK_ON_ERROR: the offset is committed only after the handler (and so its database
    # transaction) has finished; on an exception the consumer seeks back and re-reads.
    # The default (ACK_FIRST) would auto-commit before the handler runs.
    subscriber = broker.subscriber(
        *consumes,
        topics.replays(settings.service_name),
        group_id=settings.service_name,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # Whatever is waiting, up to consumer_batch_size records, is handled in one transaction
        # (EventConsumer.handle_batch); a lone event is handled as soon as it arrives
        # (`_wait_for_records`).
        batch=True,
        max_records=settings.consumer_batch_size,
        batch_timeout_ms=IDLE_POLL_MS,
        title=f"{settings.service_name}:consumer",
        description="Handles: " + ", ".join(consumer.handled_types),
        # No JSON decoding here: the consumer validates the body against the event's model,
        # and a body that is not JSON must reach it to be dead-lettered, not crash the decoder.
        decoder=_raw_body,
    )

    async def on_event(message: KafkaMessage) -> None:
        records = message.raw_message
        await consumer.handle_batch(records if isinstance(records, tuple) else (records,))

    subscriber(on_event)
    _wait_for_records(subscriber)


# How long one poll of an idle consumer waits for records (it returns as soon as any arrive).
IDLE_POLL_MS = 100


def _wait_for_records(subscriber: Any) -> None:
    """Hand each batch over as soon as the consumer has records, never after a pause.

    FastStream's batch subscriber polls for `batch_timeout_ms` and, when nothing came, sleeps
    as long again before polling anew: an event arriving during that sleep waits for it (up to
    5 ms a hop with the 5 ms poll the services had, more with a longer one). aiokafka's
    `getmany` already waits until records arrive or the timeout passes, so the poll alone
    paces an idle consumer: with the sleep left out, a lone event is handed over the moment
    it is fetched, and an idle consumer wakes ten times a second. Everything else (offsets
    committed after the handler, the batch handed to `on_event`) stays FastStream's."""

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        fetched = await consumer.getmany(timeout_ms=IDLE_POLL_MS, max_records=subscriber.max_records)
        return tuple(itertools.chain.from_iterable(fetched.values()))

    subscriber.get_msg = get_msg


async def _raw_body(message: Any) -> bytes:
    return message.body
