"""Approval's routes without a broker: who may call what, and how a bad request is answered.

The app runs without its lifespan (no relay, no consumers); the database is migrated by
the fixture and Kafka points at an unreachable address (conftest.py).
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI

from conformity_shared.auth import Role
from conformity_shared.clock import FixedClock
from conformity_devstack.factories import application, new_uscc
from conformity_devstack.testing import token

REGULATOR = token(Role.REGULATOR)


async def test_invalid_uscc_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    org = new_uscc()
    bad = org[:-1] + ("0" if org[-1] != "0" else "1")
    answer = await client.post("/applications", json=application(bad), headers=token(Role.AGENCY, org=org))
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "organisation_uscc"]
    assert "check character" in error["msg"]


async def test_commitment_refusal_answers_422_with_every_failed_rule_and_the_application_id(
    client: httpx.AsyncClient,
) -> None:
    org = new_uscc()
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
    org = new_uscc()
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


async def test_the_catalogue_lists_the_schemes_each_field_admits(client: httpx.AsyncClient) -> None:
    answer = await client.get("/catalogue")
    assert answer.status_code == 200
    fields = {f["code"]: f for f in answer.json()["fields"]}
    assert fields["CCC-07"]["schemes"] == ["CCC"]
    assert fields["MS-QMS"]["schemes"] == ["management_system"]
    assert fields["TL-EMC"]["schemes"] == []


@pytest.mark.parametrize("settings", [{"working_day_calendars": []}], indirect=True)
async def test_acceptance_into_a_year_without_a_calendar_answers_422_naming_the_year(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Monday 14 December 2026 in Beijing: 20 working days later is in 2027, which has no calendar.
    app.state.runtime.clock = FixedClock(instant=dt.datetime(2026, 12, 14, 2, 0, tzinfo=dt.UTC))
    org = new_uscc()
    submitted = await client.post("/applications", json=application(org, "standard"),
                                  headers=token(Role.AGENCY, org=org))
    assert submitted.status_code == 201, submitted.text

    answer = await client.post(f"/applications/{submitted.json()['id']}/accept", headers=REGULATOR)

    assert answer.status_code == 422, answer.text
    refusal = answer.json()
    assert refusal["field"] == "decision_due"
    assert [r["rule"] for r in refusal["failed_rules"]] == ["working_day_calendar_missing"]
    assert "2027" in refusal["detail"]
