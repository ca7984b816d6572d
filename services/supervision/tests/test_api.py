"""Supervision over HTTP, with no broker: who may create, commit to, freeze, reveal and draw
campaigns, the validation and refusal answers, and the public record that anyone can check
with the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from typing import get_args

import httpx

from conformity_shared.auth import Role
from conformity_devstack.campaigns import CampaignWalk
from conformity_devstack.factories import OBSERVER, campaign_request, commitment
from conformity_devstack.testing import token

from supervision import verify_draw
from supervision.commands import InspectionKindName, InspectionStatusName, VerdictName
from supervision.domain import InspectionKind, InspectionStatus, Verdict, draw, draw_record

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
    for step in ("commitments", "freeze", "reveals", "cancel"):
        assert (await client.post(f"/campaigns/{created.json()['id']}/{step}", headers=as_inspector)).status_code == 403
    as_observer = token(Role.OBSERVER, subject=OBSERVER)  # a party, but the regulator freezes, draws and cancels
    for step in ("freeze", "draw", "cancel"):
        assert (await client.post(f"/campaigns/{created.json()['id']}/{step}", headers=as_observer)).status_code == 403
    assert (await client.post("/campaigns", json=campaign_request(), headers=as_observer)).status_code == 403


async def test_only_the_named_party_commits_and_reveals_and_only_for_itself(
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors,
    http_campaigns: CampaignWalk,
) -> None:
    await directory()
    await register_inspectors(3)
    created = await http_campaigns.create()
    stranger = token(Role.OBSERVER, subject="notary-xiamen")  # an observer, not named by this campaign
    value = commitment("notary-xiamen", "a secret of at least thirty-two characters")

    answer = await client.post(f"/campaigns/{created['id']}/commitments", headers=stranger, json={"commitment": value})
    assert answer.status_code == 403, answer.text
    assert answer.json()["failed_rules"][0]["rule"] == "party_acts_for_itself"

    await http_campaigns.commit_all(created)
    frozen = await http_campaigns.freeze(created["id"])
    assert frozen.status_code == 200, frozen.text
    # Another party cannot reveal the observer's secret in its name: it reveals as itself.
    secret = http_campaigns.secrets[(created["id"], OBSERVER)]
    answer = await client.post(f"/campaigns/{created['id']}/reveals", headers=stranger, json={"secret": secret})
    assert answer.status_code == 403
    answer = await client.post(f"/campaigns/{created['id']}/reveals", headers=token(Role.REGULATOR), json={"secret": secret})
    assert (answer.status_code, answer.json()["failed_rules"][0]["rule"]) == (422, "reveal_does_not_match_commitment")
    answer = await client.post(f"/campaigns/{created['id']}/reveals", headers=http_campaigns.headers(OBSERVER),
                               json={"secret": secret})
    assert answer.status_code == 200, answer.text


async def test_a_campaign_request_with_a_seed_is_answered_422_saying_the_seed_is_derived(client: httpx.AsyncClient) -> None:
    answer = await client.post("/campaigns", json=campaign_request(seed="lottery 2024-05-01"), headers=token(Role.REGULATOR))
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "seed"] and "derived" in error["msg"]


async def test_the_commitments_and_the_frozen_snapshot_are_public_before_the_draw(
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors,
    http_campaigns: CampaignWalk,
) -> None:
    await directory()
    await register_inspectors(3)
    created = await http_campaigns.create()
    assert (await client.get(f"/public/campaigns/{created['id']}/snapshot")).status_code == 404  # not frozen yet
    await http_campaigns.commit_all(created)
    frozen = (await http_campaigns.freeze(created["id"])).json()

    record = (await client.get(f"/public/campaigns/{created['id']}")).json()
    assert record["status"] == "frozen" and record["snapshot_hash"] == frozen["snapshot_hash"]
    assert {p["party"] for p in record["parties"]} == {"regulator", OBSERVER}
    assert all(p["commitment"] and p["committed_at"] <= record["frozen_at"] for p in record["parties"])
    assert all(p["secret"] is None for p in record["parties"])
    snapshot = await client.get(record["snapshot_url"])
    assert hashlib.sha256(snapshot.content).hexdigest() == record["snapshot_hash"]
    assert (await client.get(f"/public/campaigns/{created['id']}/draw")).status_code == 404  # not drawn yet


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
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors,
    http_campaigns: CampaignWalk,
) -> None:
    await directory(bodies=1, labs=0, enterprises=0)
    await register_inspectors(1)

    answer = await http_campaigns.frozen()  # refused at the freeze, on the snapshot the draw would use

    assert answer.status_code == 422
    refused = answer.json()
    assert refused["field"] == "inspectors" and refused["shortfall_count"] == 1
    assert refused["shortfalls"][0]["required"] == 2 and refused["shortfalls"][0]["eligible"] == 1
    assert "too few eligible inspectors" in refused["detail"]


async def test_the_public_draw_and_snapshot_need_no_token_and_redrawing_is_409(
    client: httpx.AsyncClient, directory: Directory, register_inspectors: RegisterInspectors,
    http_campaigns: CampaignWalk,
) -> None:
    await directory()
    await register_inspectors(3)
    regulator = token(Role.REGULATOR)
    frozen = (await http_campaigns.frozen()).json()
    created = {"id": frozen["id"]}
    assert (await client.get(f"/public/campaigns/{created['id']}/draw")).status_code == 404  # not drawn yet
    await http_campaigns.reveal_all(frozen)

    drawn = await http_campaigns.draw(frozen)
    assert drawn.status_code == 200, drawn.text
    again = await client.post(f"/campaigns/{created['id']}/draw", headers=regulator, json={"beacon_value": "7 7 7"})
    assert again.status_code == 409

    published = (await client.get(f"/public/campaigns/{created['id']}/draw")).json()
    snapshot = await client.get(published["snapshot_url"])
    assert snapshot.headers["content-type"] == "application/json"
    assert hashlib.sha256(snapshot.content).hexdigest() == published["snapshot_hash"] == drawn.json()["snapshot_hash"]
    secrets = {p["party"]: p["secret"] for p in published["parties"]}
    derived = draw_record.derive_seed(published["snapshot_hash"], secrets, published["beacon"]["value"])
    assert published["seed"] == derived and published["algorithm"] == draw.ALGORITHM

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


async def test_the_regulator_runs_the_credit_restoration_and_as_of_only_where_allowed(client) -> None:  # noqa: ANN001
    answer = await client.post("/credit/restoration", headers=token(Role.REGULATOR))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"restored": 0}
    refused = await client.post("/credit/restoration", params={"as_of": "2099-01-01T00:00:00Z"},
                                headers=token(Role.REGULATOR))
    assert refused.status_code == 422
    assert refused.json()["field"] == "as_of"
    assert (await client.post("/credit/restoration", headers=token(Role.INSPECTOR, inspector_id="i-1"))).status_code == 403


async def test_an_offset_past_any_list_is_refused_naming_it_not_answered_500(client: httpx.AsyncClient) -> None:
    """2**63 overflowed the database's integer (a 500, found by the HTTP fuzzing)."""
    answer = await client.get("/targets", params={"limit": 1, "offset": 2**63}, headers=token(Role.REGULATOR))
    assert answer.status_code == 422
    assert "offset" in answer.text
    assert (await client.get("/targets", params={"offset": 10}, headers=token(Role.REGULATOR))).status_code == 200


async def test_an_organisation_reads_its_own_credit_class_and_no_one_elses(
    client: httpx.AsyncClient, directory: Directory
) -> None:
    made = await directory(bodies=2, labs=1, enterprises=0)
    body, other = made["certification_body"]
    [lab] = made["testing_lab"]
    own = await client.get(f"/targets/{body}", headers=token(Role.AGENCY, org=body))
    assert own.status_code == 200 and own.json()["credit_class"] == "A"
    assert (await client.get(f"/targets/{lab}", headers=token(Role.LAB, org=lab))).status_code == 200
    # Another organisation's entry answers as a missing one; the directory itself stays the regulator's.
    assert (await client.get(f"/targets/{other}", headers=token(Role.AGENCY, org=body))).status_code == 404
    assert (await client.get(f"/targets/{body}", headers=token(Role.LAB, org=lab))).status_code == 404
    assert (await client.get("/targets", headers=token(Role.AGENCY, org=body))).status_code == 403
    assert (await client.get(f"/targets/{body}", headers=token(Role.INSPECTOR, inspector_id="insp-1"))).status_code == 403
