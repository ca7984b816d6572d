"""Fixtures of proficiency's tests: the service on SQLite in a temporary directory, with Kafka
pointed at an unreachable address, so that a test touching the broker fails loudly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conformity_devstack.factories import new_uscc
from conformity_devstack import testing
from conformity_shared.runtime import ServiceRuntime

from proficiency.app import create_app
from proficiency.settings import ProficiencySettings


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> ProficiencySettings:
    return testing.unit_settings(ProficiencySettings, tmp_path, **getattr(request, "param", {}))


@pytest.fixture
async def app(settings: ProficiencySettings) -> AsyncIterator[FastAPI]:
    """The app over its migrated database, without its lifespan (no broker, no relay)."""
    async with testing.migrated_app(create_app, settings) as application:
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with testing.client_of(app) as http:
        yield http


@pytest.fixture
def labs() -> list[str]:
    """Five labs of their own (valid USCCs) for each test."""
    return [new_uscc() for _ in range(5)]
