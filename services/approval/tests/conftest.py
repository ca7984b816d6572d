"""Fixtures of approval's unit tests: settings, the app, its runtime over a migrated SQLite
database, and an HTTP client, with no broker (Kafka points at an unreachable address, so a
test that touched it would fail). The app runs without its lifespan: no relay, no consumers
started.

Settings can be changed per test: ``@pytest.mark.parametrize("settings", [{...}], indirect=True)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conformity_shared import db as shared_db
from conformity_shared.runtime import ServiceRuntime

from approval.app import create_app
from approval.settings import ApprovalSettings


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> ApprovalSettings:
    overrides = getattr(request, "param", {})
    return ApprovalSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", log_json=False, **overrides)


@pytest.fixture
def app(settings: ApprovalSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def runtime(app: FastAPI) -> AsyncIterator[ServiceRuntime[ApprovalSettings]]:
    rt: ServiceRuntime[ApprovalSettings] = app.state.runtime
    await shared_db.migrate("approval:migrations", rt.settings.resolved_database_url())
    yield rt
    await rt.engine.dispose()


@pytest.fixture
async def client(app: FastAPI, runtime: ServiceRuntime[ApprovalSettings]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://approval") as c:
        yield c
