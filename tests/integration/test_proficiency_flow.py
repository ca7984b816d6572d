"""Proficiency over HTTP with the real broker (DESIGN flow 4): rounds from enrolment to the
events of a lab failing twice in a row, a failed blind sample, who may read and submit what,
and, with approval and supervision running too, the lab losing that field and credit.

Topics are shared by the session's tests, so each test uses labs of its own (random valid
USCCs) and looks on the topic only for its own keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from conformity_shared import events, topics
from conformity_shared.auth import Role
from conformity_devstack.factories import blind_sample, lab_application, new_uscc, proficiency_round
from conformity_devstack.testing import Seen, TopicReader, eventually, running, token

from approval.app import create_app as approval_app
from proficiency.app import create_app as proficiency_app
from supervision.app import create_app as supervision_app

pytestmark = pytest.mark.integration

REGULATOR = token(Role.REGULATOR)
LAB_FAILED = events.LabFailureV1.ce_type
SUSPENSION_REQUIRED = events.LabFieldSuspensionRequiredV1.ce_type


def as_lab(org: str) -> dict[str, str]:
    return token(Role.LAB, org=org)


def of(seen: list[Seen], ce_type: str, key: str) -> list[Seen]:
    return [e for e in seen if e.type == ce_type and e.key == key]


async def run_round(
    client: httpx.AsyncClient, field: str, results: dict[str, float], correlation_id: str | None = None
) -> dict[str, Any]:
    """Create a short round (reference 10.0 mg/kg, sigma_pt 0.5), enrol the labs, let each
    submit over HTTP, wait for the deadline and close it; returns the regulator's report."""
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    created = await client.post("/rounds", json=proficiency_round([], deadline, field=field), headers=REGULATOR)
    assert created.status_code == 201, created.text
    round_id = created.json()["id"]
    enrolled = await client.post(f"/rounds/{round_id}/enrolments", json={"labs": list(results)}, headers=REGULATOR)
    assert enrolled.status_code == 200, enrolled.text
    for org, value in results.items():
        submitted = await client.post(f"/rounds/{round_id}/results", json={"value": value}, headers=as_lab(org))
        assert submitted.status_code == 201, submitted.text
    await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    headers = {**REGULATOR, "X-Correlation-ID": correlation_id} if correlation_id else REGULATOR
    closed = await client.post(f"/rounds/{round_id}/close", headers=headers)
    assert closed.status_code == 200, closed.text
    return closed.json()


async def test_two_action_signals_in_a_row_require_the_field_suspension_on_the_topic(service_env, kafka: str) -> None:
    labs = [new_uscc() for _ in range(5)]
    failing = labs[3]
    second_close = f"close-{uuid.uuid4()}"
    async with running(proficiency_app()) as client, TopicReader(kafka, topics.PROFICIENCY) as reader:
        first = await run_round(client, "TL-FOOD", dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))
        assert first["signals"]["action"] == 1
        seen = await reader.until(lambda s: bool(of(s, LAB_FAILED, failing)))
        assert not of(seen, SUSPENSION_REQUIRED, failing)

        second = await run_round(client, "TL-FOOD", dict(zip(labs, [10.0, 9.9, 10.1, 8.2, 10.2])), second_close)
        seen = await reader.until(lambda s: bool(of(s, SUSPENSION_REQUIRED, failing)))

        (required,) = of(seen, SUSPENSION_REQUIRED, failing)
        assert required.headers["ce_source"] == "/conformity/proficiency"
        assert required.headers["ce_subject"] == failing
        assert required.headers["ce_correlationid"] == second_close
        body = events.LabFieldSuspensionRequiredV1.model_validate_json(required.value)
        assert body.field == "TL-FOOD"
        assert body.reference_ids == [first["round"]["id"], second["round"]["id"]]
        failures = of(seen, LAB_FAILED, failing)
        assert [f.json()["reference_id"] for f in failures] == [first["round"]["id"], second["round"]["id"]]
        assert all(f.json()["failure"] == "action_signal" for f in failures)
        # Labs with acceptable results caused no failure event; every lab's score was published.
        await reader.settle(1.0)
        assert not [e for e in reader.seen if e.key in set(labs) - {failing} and e.type in (LAB_FAILED, SUSPENSION_REQUIRED)]
        scored = [e for e in reader.seen if e.type == events.LabScoredV1.ce_type and e.key in set(labs)]
        assert len(scored) == 2 * len(labs)


async def test_failed_blind_sample_requires_the_field_suspension_on_the_topic(service_env, kafka: str) -> None:
    lab = new_uscc()
    async with running(proficiency_app()) as client, TopicReader(kafka, topics.PROFICIENCY) as reader:
        registered = await client.post(
            "/blind-samples",
            json=blind_sample(lab, field="TL-CHEM", measurand="formaldehyde in textile", description=None,
                              known_value=75.0, tolerance=5.0),
            headers=REGULATOR,
        )
        assert registered.status_code == 201, registered.text
        sample_id = registered.json()["id"]
        (assigned,) = (await client.get("/samples", headers=as_lab(lab))).json()["items"]
        assert assigned["id"] == sample_id and "known_value" not in assigned and "tolerance" not in assigned

        reported = await client.post(f"/samples/{sample_id}/result", json={"value": 88.0}, headers=as_lab(lab))
        assert reported.status_code == 200, reported.text

        seen = await reader.until(lambda s: bool(of(s, SUSPENSION_REQUIRED, lab)))
        assert of(seen, LAB_FAILED, lab)[0].json()["failure"] == "blind_sample_failed"
        assert of(seen, SUSPENSION_REQUIRED, lab)[0].json()["reference_ids"] == [sample_id]


async def test_a_round_too_small_for_its_consensus_is_cancelled_or_closed_with_chosen_values_on_the_topic(
    service_env, kafka: str
) -> None:
    """Two consensus rounds of two results each, which closing refuses: the regulator cancels one
    and closes the other with a reference value and sigma_pt chosen then; both are published."""
    a, b = new_uscc(), new_uscc()
    consensus = {"assigned_value": {"method": "consensus"}, "sigma_pt": {"method": "robust"}}
    async with running(proficiency_app()) as client, TopicReader(kafka, topics.PROFICIENCY) as reader:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
        round_ids = []
        for _ in range(2):
            created = await client.post("/rounds", json=proficiency_round([a, b], deadline, design=consensus),
                                        headers=REGULATOR)
            round_ids.append(created.json()["id"])
            for org, value in ((a, 10.0), (b, 12.0)):
                assert (await client.post(f"/rounds/{round_ids[-1]}/results", json={"value": value},
                                          headers=as_lab(org))).status_code == 201
        await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
        cancelled_id, chosen_id = round_ids
        refused = await client.post(f"/rounds/{cancelled_id}/close", headers=REGULATOR)
        assert refused.status_code == 422 and refused.json()["field"] == "results"

        cancelled = await client.post(f"/rounds/{cancelled_id}/cancel", json={"reason": "two results"},
                                      headers=REGULATOR)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        chosen = await client.post(f"/rounds/{chosen_id}/close-with-chosen-values", headers=REGULATOR, json={
            "assigned_value": {"method": "reference", "value": 10.0, "expanded_uncertainty": 0.2, "coverage_factor": 2},
            "sigma_pt": {"method": "fixed", "value": 0.5}, "reason": "two results: the CRM instead",
        })
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["obtained"]["chosen_at_closing"] == ["assigned_value", "sigma_pt"]

        seen = await reader.until(lambda s: bool(of(s, events.RoundCancelledV1.ce_type, cancelled_id))
                                  and bool(of(s, events.RoundClosedV1.ce_type, chosen_id)))
        cancellation = events.RoundCancelledV1.model_validate_json(of(seen, events.RoundCancelledV1.ce_type,
                                                                      cancelled_id)[0].value)
        assert (cancellation.reason, cancellation.results_received) == ("two results", 2)
        closing = events.RoundClosedV1.model_validate_json(of(seen, events.RoundClosedV1.ce_type, chosen_id)[0].value)
        assert closing.chosen_at_closing == ["assigned_value", "sigma_pt"]
        assert closing.closing_reason == "two results: the CRM instead" and closing.assigned_value == 10.0
        await reader.settle(1.0)
        assert not of(reader.seen, events.RoundClosedV1.ce_type, cancelled_id)


async def test_a_lab_cannot_submit_for_another_lab_nor_read_its_result(service_env) -> None:
    a, b, outsider = new_uscc(), new_uscc(), new_uscc()
    async with running(proficiency_app()) as client:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        consensus = {"assigned_value": {"method": "consensus"}, "sigma_pt": {"method": "robust"}}
        created = await client.post(
            "/rounds",
            json=proficiency_round([a, b], deadline, field="TL-ELEC", measurand="leakage current", unit="mA",
                                   design=consensus),
            headers=REGULATOR,
        )
        round_id = created.json()["id"]
        results = f"/rounds/{round_id}/results"

        assert (await client.post(results, json={"value": 0.50}, headers=as_lab(a))).status_code == 201
        for_b = await client.post(results, json={"value": 0.70, "lab_uscc": b}, headers=as_lab(a))
        assert for_b.status_code == 403 and for_b.json()["field"] == "lab_uscc"
        assert (await client.post(results, json={"value": 0.5}, headers=as_lab(outsider))).status_code == 403
        assert (await client.post(results, json={"value": 0.5}, headers=as_lab(a))).status_code == 409

        assert (await client.get(f"{results}/{a}", headers=as_lab(a))).status_code == 200
        assert (await client.get(f"{results}/{a}", headers=as_lab(b))).status_code == 404
        assert (await client.get(f"/rounds/{round_id}", headers=as_lab(outsider))).status_code == 404


# --- flow 4 across the services ---------------------------------------------------------------


async def test_lab_failing_twice_loses_that_field_and_credit(service_env, kafka: str) -> None:
    """DESIGN flow 4: two action signals in a row in TL-EMC suspend that field of the lab's
    approval (approval reacts) and lower its credit class (supervision reacts)."""
    labs = [new_uscc() for _ in range(5)]
    failing = labs[3]
    async with (
        running(approval_app()) as approval,
        running(supervision_app()) as supervision,
        running(proficiency_app()) as proficiency,
    ):
        application = lab_application(failing, staff={"TL-ELEC": 3, "TL-EMC": 2})
        answer = await approval.post("/applications", json=application, headers=token(Role.AGENCY, org=failing))
        assert answer.status_code == 201 and answer.json()["status"] == "granted", answer.text
        approval_id = answer.json()["approval"]["id"]

        async def target() -> dict[str, Any] | None:
            found = await supervision.get(f"/targets/{failing}", headers=REGULATOR)
            return found.json() if found.status_code == 200 else None

        initial = (await eventually(target))["credit_class"]

        await run_round(proficiency, "TL-EMC", dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))
        await run_round(proficiency, "TL-EMC", dict(zip(labs, [10.0, 9.9, 10.1, 8.2, 10.2])))

        async def suspended_fields() -> list[str]:
            now = (await approval.get(f"/approvals/{approval_id}", headers=token(Role.AGENCY, org=failing))).json()
            return now["suspended_fields"]

        assert await eventually(suspended_fields) == ["TL-EMC"]
        now = (await approval.get(f"/approvals/{approval_id}", headers=token(Role.AGENCY, org=failing))).json()
        assert now["status"] == "active" and now["approved_fields"] == ["TL-ELEC"]

        order = "ABCD"
        expected = order[min(order.index(initial) + 2, 3)]  # one class per lab failure
        lowered = await eventually(lambda: _credit_is(target, expected))
        assert lowered["credit_class"] == expected


async def _credit_is(target: Any, expected: str) -> dict[str, Any] | None:
    found = await target()
    return found if found and found["credit_class"] == expected else None
