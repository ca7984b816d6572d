"""Composition root of the dashboard: settings, the in-memory index, the broker feed, the routes.

`make run` starts it with `uvicorn --factory conformity_operators.dashboard.app:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from conformity_shared import web
from conformity_operators.dashboard import api
from conformity_operators.dashboard.feed import BrokerFeed
from conformity_operators.dashboard.index import EventIndex
from conformity_operators.settings import DashboardSettings


def create_app(settings: DashboardSettings | None = None) -> FastAPI:
    settings = settings or DashboardSettings()
    index = EventIndex(settings.dashboard_max_events)
    feed = BrokerFeed(settings, index)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
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
    # Security headers (its page runs only its own files and stream), body size, trusted proxies.
    web.install_edge(app, settings)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(packages=[("conformity_operators.dashboard", "static")]), name="static")
    return app
