"""Fixtures of the notifications service's tests: its settings (Kafka at an unreachable address,
so that no test can need a broker), the app over its migrated database without its lifespan,
its runtime, an HTTP client on it, and tokens of subscribers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conformity_devstack import testing
from conformity_devstack.factories import new_uscc
from conformity_shared.runtime import ServiceRuntime

from notifications.app import create_app
from notifications.settings import NotificationsSettings


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> NotificationsSettings:
    fast = {"delivery_retry_base_seconds": 0.01, "delivery_retry_max_seconds": 0.05, "stream_poll_seconds": 0.05}
    return testing.unit_settings(NotificationsSettings, tmp_path, **{**fast, **getattr(request, "param", {})})


@pytest.fixture
async def app(settings: NotificationsSettings) -> AsyncIterator[FastAPI]:
    """The app over its migrated database, without its lifespan (no broker, no worker)."""
    async with testing.migrated_app(create_app, settings) as application:
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime[NotificationsSettings]:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with testing.client_of(app) as http:
        yield http


@pytest.fixture
def subscriber() -> str:
    return new_uscc()


@pytest.fixture
def auth(subscriber: str) -> dict[str, str]:
    """A platform's bearer token, for its organisation `subscriber`."""
    return testing.token("platform", org=subscriber)
