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

from conformity_devstack import testing
from conformity_shared.runtime import ServiceRuntime

from approval.app import create_app
from approval.settings import ApprovalSettings


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> ApprovalSettings:
    return testing.unit_settings(ApprovalSettings, tmp_path, **getattr(request, "param", {}))


@pytest.fixture
async def app(settings: ApprovalSettings) -> AsyncIterator[FastAPI]:
    """The app over its migrated database, without its lifespan (no broker, no relay)."""
    async with testing.migrated_app(create_app, settings) as application:
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime[ApprovalSettings]:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with testing.client_of(app) as http:
        yield http
