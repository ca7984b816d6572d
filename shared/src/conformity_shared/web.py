"""What every service's HTTP side has: the edge (rate limits on /public/, the body size limit,
security headers), correlation ids, the platform's error answers, `/health` and the AsyncAPI
description of its events."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from conformity_shared.body_size import BodySizeLimit
from conformity_shared.errors import DomainError
from conformity_shared.rate_limits import PublicRateLimit, RateLimited, SlidingWindowLimit
from conformity_shared.request_rules import Correlation, NoNulCharacters
from conformity_shared.security_headers import SecurityHeaders
from conformity_shared.settings import HttpEdgeSettings, ServiceSettings

# The largest page offset a list accepts: past it the databases' 64-bit integers overflow (a 500),
# and no list of the platform is anywhere near it.
MAX_OFFSET = 1_000_000_000


class ServiceParts(Protocol):
    """What the platform routes read of a service's runtime (`runtime.ServiceRuntime` has it)."""

    settings: ServiceSettings
    engine: Any  # AsyncEngine
    broker: Any  # KafkaBroker
    relay: Any  # OutboxRelay


def install(app: FastAPI, runtime: ServiceParts, title: str, description: str) -> None:
    install_edge(app, runtime.settings)
    install_text_rules(app)
    install_correlation(app)
    install_error_answers(app)
    install_health(app, runtime)
    install_asyncapi(app, runtime, title, description)


def install_edge(app: FastAPI, settings: HttpEdgeSettings) -> None:
    """The first and last thing every request meets (SECURITY.md): security headers on every
    answer; the client's address (from a trusted proxy's X-Forwarded-For only); its budget under
    /public/; the body size limit. All pure ASGI, wrapped around the whole app, Starlette's own
    error middleware included, so that even its 500 carries the headers."""
    public = SlidingWindowLimit("public_requests", settings.public_requests_per_window,
                                settings.public_rate_window_seconds)
    app.state.public_rate_limit = public
    build = app.build_middleware_stack

    def edge_stack() -> ASGIApp:
        stack: ASGIApp = PublicRateLimit(BodySizeLimit(build(), settings.max_request_body_bytes), public)
        if settings.trusted_proxies:
            stack = ProxyHeadersMiddleware(stack, trusted_hosts=settings.trusted_proxies)
        hsts = settings.hsts_max_age_seconds if settings.served_over_https else None
        return SecurityHeaders(stack, hsts)

    app.build_middleware_stack = edge_stack  # type: ignore[method-assign]


def install_correlation(app: FastAPI) -> None:
    app.add_middleware(Correlation)


def install_text_rules(app: FastAPI) -> None:
    app.add_middleware(NoNulCharacters)


def install_error_answers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(RateLimited)
    async def rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        return exc.response()


async def _database_check(runtime: ServiceParts) -> str:
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"unreachable: {exc.__class__.__name__}"


async def _broker_check(runtime: ServiceParts) -> str:
    try:
        return "ok" if await runtime.broker.ping(timeout=2.0) else "unreachable"
    except Exception as exc:  # noqa: BLE001
        return f"unreachable: {exc.__class__.__name__}"


def install_health(app: FastAPI, runtime: ServiceParts) -> None:
    @app.get("/health", tags=["platform"], summary="Database and broker reachability")
    async def health() -> JSONResponse:
        checks: dict[str, Any] = {"database": await _database_check(runtime), "broker": await _broker_check(runtime)}
        if checks["database"] == "ok":
            checks["outbox_pending"] = await runtime.relay.pending()
        # One replica of a service publishes its outbox; the others stand by (RELIABILITY.md).
        checks["outbox_publisher"] = "active" if runtime.relay.active else "standby"
        healthy = checks["database"] == "ok" and checks["broker"] == "ok"
        body = {"service": runtime.settings.service_name, "status": "ok" if healthy else "degraded", **checks}
        return JSONResponse(body, status_code=200 if healthy else 503)


def install_reader_health(app: FastAPI, runtime: ServiceParts) -> None:
    """/health of a process that only reads (runtime.create_reader_app): its database alone."""
    @app.get("/health", tags=["platform"], summary="Database reachability")
    async def health() -> JSONResponse:
        database = await _database_check(runtime)
        body = {"service": runtime.settings.service_name, "role": "public reads",
                "status": "ok" if database == "ok" else "degraded", "database": database}
        return JSONResponse(body, status_code=200 if database == "ok" else 503)


def install_asyncapi(app: FastAPI, runtime: ServiceParts, title: str, description: str) -> None:
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
