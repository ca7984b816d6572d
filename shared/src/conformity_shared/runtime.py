"""The composition every service shares: database, outbox relay, Kafka broker, consumers,
FastAPI app with /health, the AsyncAPI document, correlation ids and error answers.

A service's `create_app(settings)` calls `create_service_app` with its own tables,
migrations, routers and event handlers; nothing is wired at import time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conformity_shared import db, logging as platform_logging, topics
from conformity_shared.envelope import causal_context
from conformity_shared.errors import DomainError
from conformity_shared.events import Event
from conformity_shared.messaging import EventConsumer, Handler, OutboxRelay, UnitOfWork
from conformity_shared.settings import ServiceSettings

log = structlog.get_logger("conformity.runtime")

CORRELATION_HEADER = "X-Correlation-ID"


@dataclass
class ServiceRuntime:
    """Everything a request or an event handler needs, built once per app."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: sa.Table
    inbox: sa.Table
    relay: OutboxRelay
    broker: KafkaBroker
    consumer: EventConsumer | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.outbox, self.inbox, f"/conformity/{self.settings.service_name}", self.relay.wake)

    def every(self, seconds: float, job: Callable[[], Any], name: str) -> None:
        """Run `job` every `seconds` inside the service until it stops; a failing pass is logged."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the next pass tries again
                    log.warning("periodic job failed", job=name, error=repr(exc))

        self.extras.setdefault("tasks", []).append(asyncio.create_task(loop(), name=name))


async def ensure_topics(bootstrap: str, names: Sequence[str], partitions: int, timeout: float = 60.0) -> None:
    """Create the topics if missing, waiting for the broker up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [NewTopic(n, partitions, 1) for n in names if n not in existing]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka broker at {bootstrap} not reachable: {exc!r}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    metadata: sa.MetaData,
    migrations: str,
    routers: Sequence[APIRouter] = (),
    handlers: Mapping[type[Event], Handler] | None = None,
    consumes: Sequence[str] = (),
    publishes: Sequence[type[Event]] = (),
    on_startup: Sequence[Callable[[ServiceRuntime], Any]] = (),
    extras: Mapping[str, Any] | None = None,
) -> FastAPI:
    """Build one service: `handlers` react to events read from `consumes` topics; `extras`
    holds what the service's use cases need besides (rules, catalogues), built once."""
    platform_logging.configure(settings.log_level, settings.log_json)
    url = settings.resolved_database_url()
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    outbox, inbox = metadata.tables["outbox"], metadata.tables["inbox"]
    relay = OutboxRelay(
        sessions,
        outbox,
        settings.kafka_bootstrap_servers,
        poll_seconds=settings.outbox_poll_seconds,
        batch_size=settings.outbox_batch_size,
        client_id=f"{settings.service_name}-outbox",
    )
    broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id=settings.service_name, logger=None)
    runtime = ServiceRuntime(settings, engine, sessions, outbox, inbox, relay, broker, extras=dict(extras or {}))

    if handlers and consumes:
        runtime.consumer = consumer = EventConsumer(settings.service_name, runtime.unit_of_work, relay, handlers)
        _subscribe(broker, consumer, consumes, settings)
    for model in publishes:  # documentation only: the outbox relay does the publishing
        broker.publisher(model.topic, title=f"{model.topic}:{model.ce_type}", schema=model, description=model.__doc__)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.migrate(migrations, url)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [*topics.ALL, topics.dead_letters(settings.service_name)],
            settings.kafka_topic_partitions,
        )
        await relay.start()
        relay.wake()  # publish whatever a previous run committed but did not publish
        if settings.consumers_enabled:
            await broker.start()
        else:
            await broker.connect()
        for hook in on_startup:
            result = hook(runtime)
            if asyncio.iscoroutine(result):
                await result
        log.info("service started", service=settings.service_name, database=engine.url.render_as_string())
        try:
            yield
        finally:
            for task in runtime.extras.get("tasks", []):
                task.cancel()
            await broker.stop()
            await relay.stop()
            await engine.dispose()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.jwt_secret = settings.jwt_secret
    _install_correlation(app)
    _install_error_answers(app)
    _install_platform_routes(app, runtime, title, description)
    for router in routers:
        app.include_router(router)
    return app


def _subscribe(broker: KafkaBroker, consumer: EventConsumer, consumes: Sequence[str], settings: ServiceSettings) -> None:
    # NACK_ON_ERROR: the offset is committed only after the handler (and so its database
    # transaction) has finished; on an exception the consumer seeks back and re-reads.
    # The default (ACK_FIRST) would auto-commit before the handler runs.
    @broker.subscriber(
        *consumes,
        group_id=settings.service_name,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # Whatever is waiting, up to consumer_batch_size records, is handled in one transaction
        # (EventConsumer.handle_batch). An idle poll returns after batch_timeout_ms and then
        # pauses as long: that pause, at most 5 ms, is what a lone event can wait for.
        batch=True,
        max_records=settings.consumer_batch_size,
        batch_timeout_ms=5,
        title=f"{settings.service_name}:consumer",
        description="Handles: " + ", ".join(consumer.handled_types),
        # No JSON decoding here: the consumer validates the body against the event's model,
        # and a body that is not JSON must reach it to be dead-lettered, not crash the decoder.
        decoder=_raw_body,
    )
    async def on_event(message: KafkaMessage) -> None:
        records = message.raw_message
        await consumer.handle_batch(records if isinstance(records, tuple) else (records,))


async def _raw_body(message: Any) -> bytes:
    return message.body


def _install_correlation(app: FastAPI) -> None:
    @app.middleware("http")
    async def correlation(request: Request, call_next):  # noqa: ANN001, ANN202
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        # Events a request emits are caused by the request itself.
        with causal_context(correlation_id, correlation_id), structlog.contextvars.bound_contextvars(
            correlation_id=correlation_id, path=request.url.path
        ):
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


def _install_error_answers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)


def _install_platform_routes(app: FastAPI, runtime: ServiceRuntime, title: str, description: str) -> None:
    @app.get("/health", tags=["platform"], summary="Database and broker reachability")
    async def health() -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"unreachable: {exc.__class__.__name__}"
        try:
            checks["broker"] = "ok" if await runtime.broker.ping(timeout=2.0) else "unreachable"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"unreachable: {exc.__class__.__name__}"
        if checks["database"] == "ok":
            checks["outbox_pending"] = await runtime.relay.pending()
        healthy = checks["database"] == "ok" and checks["broker"] == "ok"
        body = {"service": runtime.settings.service_name, "status": "ok" if healthy else "degraded", **checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    def specification() -> Any:
        return AsyncAPI(
            runtime.broker, title=title, description=description, version="1.0.0", schema_version="3.0.0"
        ).to_specification()

    @app.get("/asyncapi.json", tags=["platform"], summary="AsyncAPI description of this service's events")
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(specification().to_jsonable())

    @app.get("/asyncapi", tags=["platform"], response_class=HTMLResponse, include_in_schema=False)
    async def asyncapi_html() -> HTMLResponse:
        return HTMLResponse(get_asyncapi_html(specification(), try_it_out_path=None))
