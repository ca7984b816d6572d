"""Fixtures of approval's unit tests: settings, the app, its runtime over a migrated SQLite
database, and an HTTP client, with no broker (Kafka points at an unreachable address, so a
test that touched it would fail). The app runs without its lifespan: no relay, no consumers
started.

Settings can be changed per test: ``@pytest.mark.parametrize("settings", [{...}], indirect=True)``.

Tests run on the real clock, and 20 working days from today may reach a year whose State
Council holiday notice is not shipped, which the service refuses; so the settings carry
TEST-ONLY weekends-only calendars for this year and the next where none is shipped
(``factories.working_day_calendars_for_tests``), and a test of that refusal passes
``{"working_day_calendars": []}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conformity_devstack import factories, testing
from conformity_shared.clock import Clock
from conformity_shared.runtime import ServiceRuntime

from approval.app import create_app
from approval.settings import ApprovalSettings
from approval.working_day_calendars import shipped_years


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> ApprovalSettings:
    calendars = factories.working_day_calendars_for_tests(Clock().today(), shipped_years())
    return testing.unit_settings(
        ApprovalSettings, tmp_path, **({"working_day_calendars": calendars} | getattr(request, "param", {}))
    )


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
