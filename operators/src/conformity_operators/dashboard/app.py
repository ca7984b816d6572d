"""Composition root of the dashboard: settings, the in-memory index, the broker feed, the routes,
and who may open it (tokens verified with the issuer's keys, the page's sign-in through the issuer).

`make run` starts it with `uvicorn --factory conformity_operators.dashboard.app:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from conformity_shared import web
from conformity_shared.kafka_access import refuse_unsafe_access
from conformity_shared.oidc import TokenVerifier
from conformity_shared.web_sign_in import WebSignIn
from conformity_operators.dashboard import api
from conformity_operators.dashboard.feed import BrokerFeed
from conformity_operators.dashboard.index import EventIndex
from conformity_operators.settings import DashboardSettings


def create_app(settings: DashboardSettings | None = None) -> FastAPI:
    settings = settings or DashboardSettings()
    index = EventIndex(settings.dashboard_max_events, settings.dashboard_max_deliveries)
    feed = BrokerFeed(settings, index)
    verifier = TokenVerifier.from_settings(settings)  # refuses development identity in production
    sign_in = WebSignIn(settings, verifier, public_url=settings.dashboard_url, cookie_prefix="conformity_dashboard")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await verifier.check_at_start()
        refuse_unsafe_access(settings.kafka_access(), credentials_file=settings.kafka_credentials_file,
                             environment=settings.env.value, development=settings.development)
        feed.start()
        try:
            yield
        finally:
            await feed.stop()

    app = FastAPI(
        title="Conformity dashboard",
        description="Live events of the four services, counts, histories and cascades.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.index = index
    app.state.feed = feed
    app.state.token_verifier = verifier
    app.state.sign_in = sign_in
    # Security headers (its page runs only its own files and stream), body size, trusted proxies.
    web.install_edge(app, settings)
    app.include_router(sign_in.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(packages=[("conformity_operators.dashboard", "static")]), name="static")
    return app
