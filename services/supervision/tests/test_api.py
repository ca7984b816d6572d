"""Supervision over HTTP, with no broker: who may create and draw campaigns, the validation
and refusal answers, and the public draw that anyone can re-run with the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from typing import get_args

import httpx

from conformity_shared.auth import Role
from conformity_devstack.factories import campaign_request
from conformity_devstack.testing import token

from supervision import verify_draw
from supervision.commands import InspectionKindName, InspectionStatusName, VerdictName
from supervision.domain import InspectionKind, InspectionStatus, Verdict, draw

# The fixtures of conftest.py that list the directories.
Directory = Callable[..., Awaitable[dict[str, list[str]]]]
RegisterInspectors = Callable[..., Awaitable[list[str]]]



async def test_an_inspector_cannot_create_or_draw_campaigns(client: httpx.AsyncClient) -> None:
    as_inspector = token(Role.INSPECTOR, inspector_id="insp-1")
    assert (await client.post("/campaigns", json=campaign_request(), headers=as_inspector)).status_code == 403
    assert (await client.post("/campaigns", json=campaign_request())).status_code == 401
    created = await client.post("/campaigns", json=campaign_request(), headers=token(Role.REGULATOR))
    assert created.status_code == 201, created.text
    assert (await client.post(f"/campaigns/{created.json()['id']}/draw", headers=as_inspector)).status_code == 403


async def test_an_invalid_campaign_is_answered_422_naming_the_field(client: httpx.AsyncClient) -> None:
    regulator = token(Role.REGULATOR)
    answer = await client.post("/campaigns", json=campaign_request(inspectors_per_target=1), headers=regulator)
    assert answer.status_code == 422
    assert answer.json()["field"] == "inspectors_per_target"
    assert "at least 2 inspectors" in answer.json()["detail"]

    answer = await client.post("/campaigns", json=campaign_request(ratios={"A": "2", "B": "0", "C": "0", "D": "1"}), headers=regulator)
    assert (answer.status_code, answer.json()["field"]) == (422, "ratios")

    for ratios, rule in (
        ({"A": "1", "B": "0", "C": "0", "D": "0"}, "ratios_rise_as_credit_falls"),
        ({"A": "0", "B": "0", "C": "0", "D": "0"}, "campaign_draws_something"),
    ):
        answer = await client.post("/campaigns", json=campaign_request(ratios=ratios), headers=regulator)
        assert (answer.status_code, answer.json()["field"]) == (422, "ratios"), answer.text
        assert answer.json()["failed_rules"][0]["rule"] == rule

    answer = await client.post("/campaigns", json=campaign_request(target_kinds=["factory"]), headers=regulator)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][:2] == ["body", "target_kinds"]


async def test_a_draw_refused_for_too_few_inspectors_answers_422_with_the_shortfalls(
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors
) -> None:
    await directory(bodies=1, labs=0, enterprises=0)
    await register_inspectors(1)
    regulator = token(Role.REGULATOR)
    created = (await client.post("/campaigns", json=campaign_request(), headers=regulator)).json()

    answer = await client.post(f"/campaigns/{created['id']}/draw", headers=regulator)

    assert answer.status_code == 422
    refused = answer.json()
    assert refused["field"] == "inspectors" and refused["shortfall_count"] == 1
    assert refused["shortfalls"][0]["required"] == 2 and refused["shortfalls"][0]["eligible"] == 1
    assert "too few eligible inspectors" in refused["detail"]


async def test_the_public_draw_and_snapshot_need_no_token_and_redrawing_is_409(
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors
) -> None:
    await directory()
    await register_inspectors(3)
    regulator = token(Role.REGULATOR)
    created = (await client.post("/campaigns", json=campaign_request(), headers=regulator)).json()
    assert (await client.get(f"/public/campaigns/{created['id']}/draw")).status_code == 404  # not drawn yet

    drawn = await client.post(f"/campaigns/{created['id']}/draw", headers=regulator)
    assert drawn.status_code == 200, drawn.text
    assert (await client.post(f"/campaigns/{created['id']}/draw", headers=regulator)).status_code == 409

    published = (await client.get(f"/public/campaigns/{created['id']}/draw")).json()
    snapshot = await client.get(published["snapshot_url"])
    assert snapshot.headers["content-type"] == "application/json"
    assert hashlib.sha256(snapshot.content).hexdigest() == published["snapshot_hash"] == drawn.json()["snapshot_hash"]
    assert published["seed"] == campaign_request()["seed"] and published["algorithm"] == draw.ALGORITHM

    # The CLI's own fetch, served by this app through a synchronous stand-in for urllib.
    pages = {str(client.base_url.join(u)): (await client.get(u)).content
             for u in (f"/public/campaigns/{created['id']}/draw", published["snapshot_url"])}
    fetched = verify_draw.fetch(str(client.base_url), created["id"], get=pages.__getitem__)
    assert verify_draw.check(fetched).ok
    tampered = dataclasses.replace(fetched, snapshot=fetched.snapshot.replace(b'"credit_class":"A"', b'"credit_class":"B"', 1))
    verification = verify_draw.check(tampered)
    assert not verification.ok
    assert any("hash" in d for d in verification.differences)

    listed = (await client.get("/public/campaigns")).json()["items"]
    assert [c["id"] for c in listed] == [created["id"]]


async def test_an_inspection_ordered_by_hand_needs_two_inspectors_or_an_override_with_a_reason(
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors
) -> None:
    holder = (await directory(bodies=1, labs=0, enterprises=1))["enterprise"][0]
    [only] = await register_inspectors(1)
    regulator = token(Role.REGULATOR)
    order = {"target_uscc": holder, "target_kind": "enterprise", "kind": "product_spot_check", "inspector_ids": [only]}

    answer = await client.post("/inspections", json=order, headers=regulator)
    assert (answer.status_code, answer.json()["field"]) == (422, "inspector_ids"), answer.text
    assert answer.json()["failed_rules"][0]["rule"] == "min_inspectors_per_target"

    no_reason = {**order, "override": {"rules": ["min_inspectors_per_target"]}}
    answer = await client.post("/inspections", json=no_reason, headers=regulator)
    assert (answer.status_code, answer.json()["field"]) == (422, "override.reason"), answer.text

    overridden = {**order, "override": {"rules": ["min_inspectors_per_target"], "reason": "the only one in the region"}}
    answer = await client.post("/inspections", json=overridden, headers=regulator)
    assert answer.status_code == 201, answer.text
    assert answer.json()["override"] == {"rules": ["min_inspectors_per_target"], "reason": "the only one in the region"}


def test_the_http_spellings_of_kinds_verdicts_and_statuses_are_the_domains():
    assert set(get_args(InspectionKindName)) == {kind.value for kind in InspectionKind}
    assert set(get_args(VerdictName)) == {verdict.value for verdict in Verdict}
    assert set(get_args(InspectionStatusName)) == {status.value for status in InspectionStatus}
