"""Certificates' routes without a broker: the app runs without its lifespan, its database
migrated by the fixture, Kafka pointed at an unreachable address."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from conformity_shared.auth import Role
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import new_uscc
from conformity_devstack.testing import token

from certificates import loader


@pytest.fixture(autouse=True)
async def data_set(runtime: ServiceRuntime, today: dt.date) -> None:
    # A data set consistent on a day long past: by today some suspensions and validities have run out.
    await loader.load(runtime.settings.resolved_database_url(), 300, seed=3, today=today - dt.timedelta(days=365 * 6))


async def test_regulator_runs_the_due_transitions_and_a_second_run_changes_nothing(client: httpx.AsyncClient) -> None:
    first = await client.post("/certificates/due-transitions", headers=token(Role.REGULATOR))
    assert first.status_code == 200, first.text
    assert sum(first.json().values()) > 0
    second = await client.post("/certificates/due-transitions", headers=token(Role.REGULATOR))
    assert second.json() == {k: 0 for k in first.json()}


async def test_only_a_regulator_runs_the_due_transitions(client: httpx.AsyncClient) -> None:
    answer = await client.post("/certificates/due-transitions", headers=token(Role.AGENCY, org=new_uscc()))
    assert answer.status_code == 403
    assert "regulator" in answer.json()["detail"]


async def test_as_of_is_refused_unless_the_service_allows_it(client: httpx.AsyncClient) -> None:
    answer = await client.post("/certificates/due-transitions", params={"as_of": "2099-01-01"}, headers=token(Role.REGULATOR))
    assert answer.status_code == 422
    assert answer.json()["field"] == "as_of"
