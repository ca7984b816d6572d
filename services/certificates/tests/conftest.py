"""Fixtures of the certificates service's tests: its settings (Kafka at an unreachable
address, so that no test can need a broker), the app with its database migrated and no
lifespan, its runtime, an HTTP client on it, and the regulator's today."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conformity_devstack import testing
from conformity_shared.runtime import ServiceRuntime

from certificates.app import create_app
from certificates.settings import CertificatesSettings


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> CertificatesSettings:
    return testing.unit_settings(CertificatesSettings, tmp_path, **getattr(request, "param", {}))


@pytest.fixture
async def app(settings: CertificatesSettings) -> AsyncIterator[FastAPI]:
    """The app over its migrated database, without its lifespan (no broker, no relay)."""
    async with testing.migrated_app(create_app, settings) as application:
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime[CertificatesSettings]:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with testing.client_of(app) as http:
        yield http


@pytest.fixture
def today(runtime: ServiceRuntime[CertificatesSettings]) -> dt.date:
    """The regulator's calendar date, the one the service dates validity and deadlines by."""
    return runtime.clock.today()
