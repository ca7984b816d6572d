"""Certificates' routes without a broker: the app runs without its lifespan, its database
migrated by the fixture, Kafka pointed at an unreachable address."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conformity_shared import db as shared_db
from conformity_shared import uscc
from conformity_shared.auth import Role
from conformity_devstack.testing import token

from certificates import loader
from certificates.app import CertificatesSettings, create_app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CertificatesSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", log_json=False))
    runtime = app.state.runtime
    url = runtime.settings.resolved_database_url()
    await shared_db.migrate("certificates:migrations", url)
    # A data set consistent on a day long past: by today some suspensions and validities have run out.
    await loader.load(url, 300, seed=3, today=dt.date.today() - dt.timedelta(days=365 * 6))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://certificates") as c:
        yield c
    await runtime.engine.dispose()


async def test_regulator_runs_the_due_transitions_and_a_second_run_changes_nothing(client: httpx.AsyncClient) -> None:
    first = await client.post("/certificates/due-transitions", headers=token(Role.REGULATOR))
    assert first.status_code == 200, first.text
    assert sum(first.json().values()) > 0
    second = await client.post("/certificates/due-transitions", headers=token(Role.REGULATOR))
    assert second.json() == {k: 0 for k in first.json()}


async def test_only_a_regulator_runs_the_due_transitions(client: httpx.AsyncClient) -> None:
    answer = await client.post("/certificates/due-transitions", headers=token(Role.AGENCY, org=uscc.make(random.Random())))
    assert answer.status_code == 403
    assert "regulator" in answer.json()["detail"]


async def test_as_of_is_refused_unless_the_service_allows_it(client: httpx.AsyncClient) -> None:
    answer = await client.post("/certificates/due-transitions", params={"as_of": "2099-01-01"}, headers=token(Role.REGULATOR))
    assert answer.status_code == 422
    assert answer.json()["field"] == "as_of"
