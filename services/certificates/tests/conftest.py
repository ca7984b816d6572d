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

from conformity_shared import db as shared_db
from conformity_shared.runtime import ServiceRuntime

from certificates.app import create_app
from certificates.settings import CertificatesSettings


@pytest.fixture
def settings(tmp_path: Path) -> CertificatesSettings:
    return CertificatesSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", log_json=False)


@pytest.fixture
async def app(settings: CertificatesSettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    await shared_db.migrate("certificates:migrations", settings.resolved_database_url())
    yield application
    await application.state.runtime.engine.dispose()


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime[CertificatesSettings]:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://certificates") as c:
        yield c


@pytest.fixture
def today(runtime: ServiceRuntime[CertificatesSettings]) -> dt.date:
    """The regulator's calendar date, the one the service dates validity and deadlines by."""
    return runtime.clock.today()
