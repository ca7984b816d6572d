"""Fixtures of proficiency's tests: the service on SQLite in a temporary directory, with Kafka
pointed at an unreachable address, so that a test touching the broker fails loudly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conformity_devstack.factories import new_uscc
from conformity_shared import db as shared_db
from conformity_shared.runtime import ServiceRuntime

from proficiency.app import create_app
from proficiency.settings import ProficiencySettings


@pytest.fixture
def settings(tmp_path: Path) -> ProficiencySettings:
    return ProficiencySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", log_json=False)


@pytest.fixture
async def app(settings: ProficiencySettings) -> AsyncIterator[FastAPI]:
    """The app with its database migrated, without its lifespan (no broker, no relay)."""
    application = create_app(settings)
    await shared_db.migrate("proficiency:migrations", settings.resolved_database_url())
    yield application
    await application.state.runtime.engine.dispose()


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The routes without the lifespan (no broker): the database is migrated by `app`."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proficiency") as http:
        yield http


@pytest.fixture
def labs() -> list[str]:
    """Five labs of their own (valid USCCs) for each test."""
    return [new_uscc() for _ in range(5)]
