"""Approval's routes without a broker: who may call what, and how a bad request is answered.

The app runs without its lifespan (no relay, no consumers); the database is migrated by
the fixture and Kafka points at an unreachable address.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conformity_shared import db as shared_db
from conformity_shared import uscc
from conformity_shared.auth import Role
from conformity_devstack.testing import token

from approval.app import ApprovalSettings, create_app

REGULATOR = token(Role.REGULATOR)


def application(org: str, path: str = "commitment") -> dict:
    return {
        "organisation_uscc": org,
        "organisation_name": "Fujian Certification Co.",
        "kind": "certification_body",
        "path": path,
        "requested_fields": ["MS-QMS"],
        "declared": {"staff_per_field": {"MS-QMS": 12}, "registered_capital_rmb": 5_000_000,
                     "premises": "Fuzhou", "management_system": "ISO/IEC 17021-1 manual v3"},
        "commitment_text": "We commit that every condition is met. Signed: Li Wei.",
    }


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApprovalSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", log_json=False))
    runtime = app.state.runtime
    await shared_db.migrate("approval:migrations", runtime.settings.resolved_database_url())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://approval") as c:
        yield c
    await runtime.engine.dispose()


async def test_invalid_uscc_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    org = uscc.make(random.Random())
    bad = org[:-1] + ("0" if org[-1] != "0" else "1")
    answer = await client.post("/applications", json=application(bad), headers=token(Role.AGENCY, org=org))
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "organisation_uscc"]
    assert "check character" in error["msg"]


async def test_commitment_refusal_answers_422_with_every_failed_rule_and_the_application_id(
    client: httpx.AsyncClient,
) -> None:
    org = uscc.make(random.Random())
    body = application(org) | {"requested_fields": ["CCC-07"], "declared": {"staff_per_field": {"CCC-07": 3}}}
    answer = await client.post("/applications", json=body, headers=token(Role.AGENCY, org=org))
    assert answer.status_code == 422
    refusal = answer.json()
    assert {r["rule"] for r in refusal["failed_rules"]} == {
        "commitment_refused_for_high_risk_field", "staff_below_minimum", "registered_capital_missing",
        "premises_missing", "management_system_missing",
    }
    kept = await client.get(f"/applications/{refusal['application_id']}", headers=token(Role.AGENCY, org=org))
    assert kept.json()["status"] == "refused"


async def test_only_agencies_apply_and_only_regulators_accept_and_decide(client: httpx.AsyncClient) -> None:
    org = uscc.make(random.Random())
    agency = token(Role.AGENCY, org=org)
    assert (await client.post("/applications", json=application(org, "standard"), headers=REGULATOR)).status_code == 403
    submitted = await client.post("/applications", json=application(org, "standard"), headers=agency)
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["id"]

    assert (await client.post(f"/applications/{application_id}/accept", headers=agency)).status_code == 403
    assert (await client.post(f"/applications/{application_id}/accept", headers=REGULATOR)).status_code == 200
    decision = {"decision": "grant"}
    assert (await client.post(f"/applications/{application_id}/decision", json=decision, headers=agency)).status_code == 403
    inspector = token(Role.INSPECTOR, inspector_id="insp-1")
    assert (
        await client.post(f"/applications/{application_id}/decision", json=decision, headers=inspector)
    ).status_code == 403
    assert (await client.get("/applications/overdue", headers=agency)).status_code == 403
    assert (await client.post(f"/applications/{application_id}/decision", json=decision, headers=REGULATOR)).json()[
        "status"
    ] == "granted"


async def test_without_a_token_the_answer_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/applications")).status_code == 401


async def test_overdue_can_be_judged_as_of_a_day(client: httpx.AsyncClient) -> None:
    answer = await client.get("/applications/overdue", params={"as_of": "2027-06-30"}, headers=REGULATOR)
    assert answer.status_code == 200
    assert answer.json() == {"as_of": "2027-06-30", "applications": [], "verifications": []}
