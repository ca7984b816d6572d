"""Proficiency's routes without a broker: input refused with the field named, roles, and what
a lab may read. The round's deadline must pass in real time here, so the rounds are short."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from conformity_devstack.factories import new_uscc, proficiency_round, reference_design
from conformity_devstack.testing import token
from conformity_shared.auth import Role

REGULATOR = token(Role.REGULATOR)


def as_lab(org: str) -> dict[str, str]:
    return token(Role.LAB, org=org)


def round_body(labs: list[str], seconds: float = 3600) -> dict:
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    design = reference_design(100.0, 5.0, expanded_uncertainty=1.0, coverage_factor=2)
    return proficiency_round(labs, deadline, field="TL-ELEC", measurand="insulation resistance", unit="MΩ", design=design)


def error_fields(response: httpx.Response) -> set[str]:
    return {str(e["loc"][-1]) for e in response.json()["detail"]}


async def test_bad_round_input_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    body = round_body([new_uscc()])
    body["sigma_pt"] = {"method": "fixed", "value": -1}
    body["deadline"] = "2030-01-01T00:00:00"  # no time zone
    body["labs"] = ["91110105MA0000000X"]
    response = await client.post("/rounds", json=body, headers=REGULATOR)
    assert response.status_code == 422
    assert error_fields(response) == {"value", "deadline", "0"}  # sigma_pt.fixed.value, deadline, labs.0
    assert any("Unified Social Credit Code" in e["msg"] for e in response.json()["detail"])


async def test_result_with_u_but_no_k_is_refused_naming_coverage_factor(client: httpx.AsyncClient) -> None:
    org = new_uscc()
    created = (await client.post("/rounds", json=round_body([org]), headers=REGULATOR)).json()
    response = await client.post(
        f"/rounds/{created['id']}/results", json={"value": 101.0, "expanded_uncertainty": 2.0}, headers=as_lab(org)
    )
    assert response.status_code == 422
    assert error_fields(response) == {"coverage_factor"}
    misspelt = await client.post(f"/rounds/{created['id']}/results", json={"valeu": 1}, headers=as_lab(org))
    assert misspelt.status_code == 422 and {"value", "valeu"} <= error_fields(misspelt)


async def test_roles_are_enforced(client: httpx.AsyncClient) -> None:
    org = new_uscc()
    assert (await client.post("/rounds", json=round_body([org]))).status_code == 401
    assert (await client.post("/rounds", json=round_body([org]), headers=as_lab(org))).status_code == 403
    created = (await client.post("/rounds", json=round_body([org]), headers=REGULATOR)).json()
    assert (await client.post(f"/rounds/{created['id']}/results", json={"value": 1.0}, headers=REGULATOR)).status_code == 403
    assert (await client.post(f"/rounds/{created['id']}/close", headers=as_lab(org))).status_code == 403
    assert (await client.get("/blind-samples", headers=as_lab(org))).status_code == 403
    assert (await client.get(f"/labs/{org}/outcomes", headers=as_lab(new_uscc()))).status_code == 404  # another lab's


async def test_refusals_name_the_field_and_the_rule(client: httpx.AsyncClient) -> None:
    org, outsider, other = new_uscc(), new_uscc(), new_uscc()
    created = (await client.post("/rounds", json=round_body([org, other]), headers=REGULATOR)).json()
    url = f"/rounds/{created['id']}/results"

    assert (await client.post(url, json={"value": 100.5}, headers=as_lab(org))).status_code == 201
    duplicate = await client.post(url, json={"value": 100.7}, headers=as_lab(org))
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "lab_uscc"
    assert duplicate.json()["failed_rules"][0]["rule"] == "a round takes one result per enrolled lab"

    not_enrolled = await client.post(url, json={"value": 100.5}, headers=as_lab(outsider))
    assert not_enrolled.status_code == 403
    assert not_enrolled.json()["failed_rules"][0]["rule"] == "only labs enrolled in a round may submit results to it"

    for_another = await client.post(url, json={"value": 100.5, "lab_uscc": other}, headers=as_lab(org))
    assert for_another.status_code == 403 and for_another.json()["field"] == "lab_uscc"


async def test_a_lab_reads_its_own_result_only(client: httpx.AsyncClient) -> None:
    a, b = new_uscc(), new_uscc()
    created = (await client.post("/rounds", json=round_body([a, b]), headers=REGULATOR)).json()
    await client.post(f"/rounds/{created['id']}/results", json={"value": 100.5}, headers=as_lab(a))

    assert (await client.get(f"/rounds/{created['id']}/results/{a}", headers=as_lab(a))).json()["value"] == 100.5
    assert (await client.get(f"/rounds/{created['id']}/results/{a}", headers=as_lab(b))).status_code == 404
    assert (await client.get(f"/rounds/{created['id']}/results/{a}", headers=REGULATOR)).status_code == 200
    assert (await client.get(f"/rounds/{created['id']}", headers=as_lab(new_uscc()))).status_code == 404


async def test_closed_round_report_and_plot_over_http(client: httpx.AsyncClient) -> None:
    labs = [new_uscc() for _ in range(4)]
    created = (await client.post("/rounds", json=round_body(labs, seconds=1.5), headers=REGULATOR)).json()
    for org, value in zip(labs, [100.0, 104.0, 84.0, 117.0]):
        assert (await client.post(f"/rounds/{created['id']}/results", json={"value": value}, headers=as_lab(org))).status_code == 201
    early = await client.post(f"/rounds/{created['id']}/close", headers=REGULATOR)
    assert early.status_code == 409 and early.json()["field"] == "deadline"
    await asyncio.sleep(max(0.0, (dt.datetime.fromisoformat(created["deadline"]) - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)

    closed = await client.post(f"/rounds/{created['id']}/close", headers=REGULATOR)
    assert closed.status_code == 200, closed.text
    assert closed.json()["signals"] == {"acceptable": 2, "warning": 0, "action": 2}

    report = (await client.get(f"/rounds/{created['id']}/report", headers=as_lab(labs[3]))).json()
    assert report["your_result"]["scores"]["score"] == pytest.approx(3.4)
    assert all(org not in str(report) for org in labs[:3])

    svg = await client.get(f"/rounds/{created['id']}/report/plot", headers=as_lab(labs[0]))
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    png = await client.get(f"/rounds/{created['id']}/report/plot?format=png", headers=REGULATOR)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


async def test_blind_sample_routes_keep_the_known_value_from_the_lab(client: httpx.AsyncClient) -> None:
    org = new_uscc()
    registered = await client.post(
        "/blind-samples",
        json={"field": "TL-ELEC", "lab_uscc": org, "measurand": "leakage current", "unit": "mA",
              "known_value": 0.50, "tolerance": 0.05},
        headers=REGULATOR,
    )
    assert registered.status_code == 201
    sample_id = registered.json()["id"]
    listed = (await client.get("/samples", headers=as_lab(org))).json()["items"]
    assert [s["id"] for s in listed] == [sample_id]
    assert "known_value" not in listed[0] and "tolerance" not in listed[0]
    assert (await client.get(f"/samples/{sample_id}", headers=as_lab(new_uscc()))).status_code == 404

    reported = await client.post(f"/samples/{sample_id}/result", json={"value": 0.62}, headers=as_lab(org))
    assert reported.status_code == 200 and "passed" not in reported.json()
    verdict = (await client.get(f"/blind-samples/{sample_id}", headers=REGULATOR)).json()
    assert verdict["passed"] is False
    outcomes = (await client.get(f"/labs/{org}/outcomes", headers=REGULATOR)).json()
    assert outcomes["suspensions_required"][0]["evidence"] == [sample_id]
    # The lab reads its own: the suspension and its grounds, not which of its samples were checks.
    own = (await client.get(f"/labs/{org}/outcomes", headers=as_lab(org))).json()
    assert own["suspensions_required"][0]["evidence"] == [sample_id] and own["outcomes"] == []


async def test_cancel_and_close_with_chosen_values_are_the_regulators_and_refuse_bad_input(client: httpx.AsyncClient) -> None:
    org = new_uscc()
    created = (await client.post("/rounds", json=round_body([org]), headers=REGULATOR)).json()
    cancel, close_chosen = f"/rounds/{created['id']}/cancel", f"/rounds/{created['id']}/close-with-chosen-values"

    assert (await client.post(cancel, json={"reason": "x"}, headers=as_lab(org))).status_code == 403
    assert (await client.post(close_chosen, json={"reason": "x"}, headers=as_lab(org))).status_code == 403
    no_reason = await client.post(cancel, json={"reason": "   "}, headers=REGULATOR)
    assert no_reason.status_code == 422 and error_fields(no_reason) == {"reason"}
    nothing_chosen = await client.post(close_chosen, json={"reason": "two results"}, headers=REGULATOR)
    assert nothing_chosen.status_code == 422
    assert "assigned_value" in nothing_chosen.text and "sigma_pt" in nothing_chosen.text
    negative = await client.post(close_chosen, json={"reason": "r", "sigma_pt": {"method": "fixed", "value": -1}},
                                 headers=REGULATOR)
    assert negative.status_code == 422 and error_fields(negative) == {"value"}

    cancelled = await client.post(cancel, json={"reason": "sample contaminated"}, headers=REGULATOR)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.get("/rounds?status=cancelled", headers=REGULATOR)).json()["items"][0]["id"] == created["id"]
    late = await client.post(f"/rounds/{created['id']}/results", json={"value": 100.0}, headers=as_lab(org))
    assert late.status_code == 409 and late.json()["field"] == "status"
