"""Supervision over HTTP and the real broker: the spot-check cascade start (flow 1),
rectification (flow 2), credit classes from consumed events and the next draw (flow 3),
a campaign committed to, frozen, revealed, drawn and verified from its public record with
the CLI, and who may do what.

Topics are shared by the session's tests and supervision's consumer group resumes where
an earlier test left it, so every test uses fresh codes and looks only at its own records.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.auth import Role
from conformity_shared.envelope import Envelope, causal_context
from conformity_devstack.campaigns import CampaignWalk
from conformity_devstack.factories import (
    approval_granted,
    as_inspector,
    certificate_issued,
    inspector_body,
    new_uscc,
    spot_check_result,
)
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import OwnerProducers, Seen, TopicReader, envelope_as_owner, eventually, running, token

from supervision import verify_draw
from supervision.app import create_app as supervision_app

REGULATOR = token(Role.REGULATOR)
EVERY_CLASS = {"A": "1", "B": "1", "C": "1", "D": "1"}
ONLY_D = {"A": "0", "B": "0", "C": "0", "D": "1"}


async def publish(kafka: str, *published: events.Event, correlation_id: str | None = None) -> list[Envelope]:
    """Put events on their topics as the other services would (CloudEvents binary mode)."""
    producer = OwnerProducers(kafka)
    envelopes = []
    try:
        for event in published:
            with causal_context(correlation_id or str(uuid.uuid4()), None):
                envelope = envelope_as_owner(event)
            await producer.send_and_wait(
                event.topic, event.model_dump_json().encode(), key=envelope.subject.encode(), headers=envelope.headers()
            )
            envelopes.append(envelope)
    finally:
        await producer.stop()
    return envelopes


async def listed(sup: httpx.AsyncClient, *orgs: str) -> None:
    """Wait until the directory has learned of the organisations from their events."""

    async def known() -> bool:
        for org in orgs:
            answer = await sup.get(f"/targets/{org}", headers=REGULATOR)
            if answer.status_code != 200 or answer.json()["kind"] == "unknown":
                return False
        return True

    await eventually(known, timeout=30)


async def certified_enterprise(kafka: str, sup: httpx.AsyncClient, certificates: int) -> tuple[str, list[str]]:
    """A body and an enterprise holding `certificates` of its certificates, known to the directory."""
    body, holder = new_uscc(), new_uscc()
    issuances = [certificate_issued(holder, body) for _ in range(certificates)]
    await publish(kafka, approval_granted(body), *issuances)
    await listed(sup, body, holder)
    return holder, sorted(e.certificate_number for e in issuances)


async def register_inspectors(sup: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        inspector_id = f"insp-{uuid.uuid4().hex[:10]}"
        answer = await sup.post("/inspectors", headers=REGULATOR, json=inspector_body(inspector_id))
        assert answer.status_code == 201, answer.text
        ids.append(inspector_id)
    return ids


async def drawn_campaign(sup: httpx.AsyncClient, kinds: list[str], ratios: dict[str, str]) -> dict:
    """Created, committed to by the regulator and the observer, frozen, revealed, drawn once the beacon is due."""
    drawn = await CampaignWalk(sup, REGULATOR).drawn(target_kinds=kinds, ratios=ratios)
    assert drawn["status"] == "drawn"
    return drawn


async def drawn_targets(sup: httpx.AsyncClient, kinds: list[str], ratios: dict[str, str]) -> set[str]:
    """The targets a campaign draws; none when the freeze finds nothing to draw (refused, 422)."""
    walk = CampaignWalk(sup, REGULATOR)
    frozen = await walk.frozen(target_kinds=kinds, ratios=ratios)
    if frozen.status_code == 422 and frozen.json()["failed_rules"][0]["rule"] == "campaign_draws_something":
        return set()
    assert frozen.status_code == 200, frozen.text
    await walk.reveal_all(frozen.json())
    drawn = await walk.draw(frozen.json())
    assert drawn.status_code == 200, drawn.text
    return {t["id"] for t in (await sup.get(f"/public/campaigns/{drawn.json()['id']}/draw")).json()["result"]["targets"]}


async def drawn_inspection_of(sup: httpx.AsyncClient, campaign: dict, target: str) -> dict:
    answer = await sup.get("/inspections", headers=REGULATOR, params={"campaign_id": campaign["id"], "limit": 1000})
    assert answer.status_code == 200, answer.text
    [inspection] = [i for i in answer.json()["items"] if i["target_uscc"] == target]
    return inspection


def of_type(seen: list[Seen], ce_type: str, key: str) -> list[Seen]:
    return [e for e in seen if e.type == ce_type and e.key == key]


async def failed_spot_check(
    sup: httpx.AsyncClient, kafka: str, holder: str, failing: list[str], passing: list[str], correlation_id: str
) -> dict:
    """A campaign draws the enterprise; an assigned inspector records the failed samples."""
    await register_inspectors(sup, 3)
    campaign = await drawn_campaign(sup, ["enterprise"], EVERY_CLASS)
    inspection = await drawn_inspection_of(sup, campaign, holder)
    assert inspection["kind"] == "product_spot_check"
    recorded = await sup.post(
        f"/inspections/{inspection['id']}/result", headers=as_inspector(inspection["inspectors"][0], correlation_id),
        json=spot_check_result(failing, passing, findings="samples overheat (GB 4706.19 clause 11)"),
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["verdict"] == "fail"
    return recorded.json()


# --- flow 1: a failed product spot check starts the suspension cascade ---------------------------


async def test_failed_drawn_spot_check_emits_the_failure_naming_the_certificates_and_holder(
    service_env, kafka: str
) -> None:
    correlation_id = f"spot-check-{uuid.uuid4()}"
    async with running(supervision_app()) as sup, TopicReader(kafka, topics.SUPERVISION) as reader:
        holder, numbers = await certified_enterprise(kafka, sup, certificates=3)
        failing, passing = numbers[:2], numbers[2:]

        inspection = await failed_spot_check(sup, kafka, holder, failing, passing, correlation_id)

        seen = await reader.until(
            lambda s: of_type(s, "supervision.spot_check_failed.v1", inspection["id"])
            and of_type(s, "supervision.credit_class_changed.v1", holder)
        )
        [spot_check] = of_type(seen, "supervision.spot_check_failed.v1", inspection["id"])
        assert spot_check.json()["certificate_numbers"] == failing
        assert spot_check.json()["holder_uscc"] == holder
        assert spot_check.headers["ce_correlationid"] == correlation_id
        assert spot_check.headers["ce_source"] == "/conformity/supervision"
        assert spot_check.headers["ce_subject"] == inspection["id"]
        [credit] = of_type(seen, "supervision.credit_class_changed.v1", holder)
        assert (credit.json()["previous"], credit.json()["current"]) == ("A", "B")
        assert credit.headers["ce_correlationid"] == correlation_id

        public = (await sup.get("/public/inspections", params={"organisation": holder})).json()["items"]
        assert [(p["inspection_id"], p["verdict"]) for p in public] == [(inspection["id"], "fail")]
        assert "overheat" in public[0]["findings_summary"]


# --- flow 2: a re-inspection that passes verifies rectification ----------------------------------


async def test_passing_re_inspection_verifies_rectification_of_exactly_the_failed_certificates(
    service_env, kafka: str
) -> None:
    async with running(supervision_app()) as sup, TopicReader(kafka, topics.SUPERVISION) as reader:
        holder, numbers = await certified_enterprise(kafka, sup, certificates=3)
        failing, passing = [numbers[0], numbers[2]], [numbers[1]]
        spot_check = await failed_spot_check(sup, kafka, holder, failing, passing, str(uuid.uuid4()))

        # Two inspectors, neither of the drawn spot check: the draw's rules hold for an order by hand.
        reinspector, second = await register_inspectors(sup, 2)
        ordered = await sup.post(
            "/inspections", headers=REGULATOR,
            json={"target_uscc": holder, "target_kind": "enterprise", "kind": "re_inspection",
                  "inspector_ids": [reinspector, second], "spot_check_id": spot_check["id"]},
        )
        assert ordered.status_code == 201, ordered.text
        re_inspection = ordered.json()
        assert re_inspection["certificates_to_verify"] == failing
        correlation_id = f"rectification-{uuid.uuid4()}"
        passed = await sup.post(
            f"/inspections/{re_inspection['id']}/result", headers=as_inspector(reinspector, correlation_id),
            json={"verdict": "pass", "findings": "corrective actions verified on site"},
        )
        assert passed.status_code == 200, passed.text

        seen = await reader.until(lambda s: of_type(s, "supervision.rectification_verified.v1", re_inspection["id"]))
        [verified] = of_type(seen, "supervision.rectification_verified.v1", re_inspection["id"])
        assert verified.json() == {
            "inspection_id": re_inspection["id"], "spot_check_id": spot_check["id"], "holder_uscc": holder,
            "certificate_numbers": failing,
        }
        assert verified.headers["ce_correlationid"] == correlation_id
        await reader.settle(1.0)
        assert not of_type(reader.seen, "supervision.spot_check_failed.v1", re_inspection["id"])


# --- flow 3: credit classes from consumed events, and the next draw ------------------------------


async def test_breached_commitment_and_lab_failure_lower_credit_and_the_next_draw_samples_the_body(
    service_env, kafka: str
) -> None:
    body, lab = new_uscc(), new_uscc()
    correlation_id = f"breach-{uuid.uuid4()}"
    async with running(supervision_app()) as sup, TopicReader(kafka, topics.SUPERVISION) as reader:
        await publish(kafka, approval_granted(body), approval_granted(lab, kind="testing_lab"))
        await listed(sup, body, lab)
        await register_inspectors(sup, 3)
        # Before the breach the body is in class A: not drawn (or nothing at all is, if no body or lab is in D).
        assert body not in await drawn_targets(sup, ["certification_body", "testing_lab"], ONLY_D)

        breach = events.CommitmentBreachedV1(
            approval_id=str(uuid.uuid4()), organisation_uscc=body, kind="certification_body",
            verification_id=f"VER-{uuid.uuid4().hex[:8]}", findings="only 4 qualified staff, 12 declared",
        )
        failure = events.LabFailureV1(
            lab_uscc=lab, field="TL-ELEC", failure="blind_sample_failed", reference_id=f"BS-{uuid.uuid4().hex[:8]}",
            detail="reported 5.31 V, known 5.00 V +/- 0.05 V",
        )
        breach_envelope, failure_envelope = await publish(kafka, breach, failure, correlation_id=correlation_id)

        async def credit(org: str, expected: str) -> bool:
            return (await sup.get(f"/targets/{org}", headers=REGULATOR)).json()["credit_class"] == expected

        await eventually(lambda: credit(body, "D"), timeout=30)
        await eventually(lambda: credit(lab, "B"), timeout=30)

        seen = await reader.until(
            lambda s: of_type(s, "supervision.credit_class_changed.v1", body)
            and of_type(s, "supervision.credit_class_changed.v1", lab)
        )
        [body_change] = of_type(seen, "supervision.credit_class_changed.v1", body)
        assert body_change.json() == {
            "organisation_uscc": body, "previous": "A", "current": "D",
            "cause": f"commitment_breached ({breach.verification_id})",
        }
        assert body_change.headers["ce_correlationid"] == correlation_id
        assert body_change.headers["ce_causationid"] == breach_envelope.id
        [lab_change] = of_type(seen, "supervision.credit_class_changed.v1", lab)
        assert (lab_change.json()["previous"], lab_change.json()["current"]) == ("A", "B")
        assert lab_change.headers["ce_causationid"] == failure_envelope.id

        history = (await sup.get(f"/targets/{body}", headers=REGULATOR)).json()["credit_history"]
        assert [(h["current"], h["cause_event_id"]) for h in history] == [("D", breach_envelope.id)]

        drawn_after = await drawn_targets(sup, ["certification_body", "testing_lab"], ONLY_D)
        assert body in drawn_after
        assert lab not in drawn_after  # class B: ratio 0 in this campaign


# --- "one public": a draw anyone can re-run ------------------------------------------------------


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app already started by `running` over real HTTP, for the CLI (its lifespan is not re-run)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout=10, interval=0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


async def test_campaign_drawn_over_http_is_confirmed_from_its_public_record_and_refuted_when_an_entry_changes(
    service_env, kafka: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = supervision_app()
    async with running(app) as sup:
        holder, _ = await certified_enterprise(kafka, sup, certificates=1)
        await register_inspectors(sup, 4)
        campaign = await drawn_campaign(sup, ["certification_body", "enterprise", "testing_lab"], EVERY_CLASS)
        again = await sup.post(f"/campaigns/{campaign['id']}/draw", headers=REGULATOR, json={"beacon_value": "1 2 3"})
        assert again.status_code == 409

        async with served(app) as url:
            # The CLI reads over real HTTP with blocking calls: run it off this event loop.
            code = await asyncio.to_thread(verify_draw.main, ["--url", url, "--campaign", campaign["id"]])
            assert code == 0
            assert capsys.readouterr().out.startswith("CONFIRMED")
            published = await asyncio.to_thread(verify_draw.fetch, url, campaign["id"])

        assert published.snapshot_hash == campaign["snapshot_hash"]
        assert published.record is not None and published.record["seed_scheme"] == "commit-reveal-beacon-v1"
        assert {p["party"] for p in published.record["parties"]} == {"regulator", "notary-fuzhou"}
        document = json.loads(published.snapshot)
        entry = next(t for t in document["targets"] if t["id"] == holder)
        entry["name"] = entry["name"] + " (renamed)"  # one directory entry changed
        changed = tmp_path / "snapshot.json"
        changed.write_text(json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        result = tmp_path / "result.json"
        result.write_bytes(published.result)

        code = verify_draw.main(
            ["--snapshot", str(changed), "--result", str(result), "--seed", published.seed, "--hash", campaign["snapshot_hash"]]
        )
        assert code == 1
        out = capsys.readouterr().out
        assert out.startswith("REFUTED")
        assert campaign["snapshot_hash"] in out


# --- authorization ----------------------------------------------------------------------------


async def test_only_an_assigned_inspector_records_and_only_a_regulator_runs_campaigns(service_env, kafka: str) -> None:
    async with running(supervision_app()) as sup:
        body = new_uscc()
        await publish(kafka, approval_granted(body))
        await listed(sup, body)
        inspectors = await register_inspectors(sup, 3)
        campaign = await drawn_campaign(sup, ["certification_body"], EVERY_CLASS)
        inspection = await drawn_inspection_of(sup, campaign, body)
        outsider = next(i for i in inspectors if i not in inspection["inspectors"])
        result = {"verdict": "pass", "findings": ""}

        refused = await sup.post(f"/inspections/{inspection['id']}/result", headers=as_inspector(outsider), json=result)
        assert refused.status_code == 403
        assert "not assigned" in refused.json()["detail"]
        assert (await sup.get(f"/inspections/{inspection['id']}", headers=as_inspector(outsider))).status_code == 404
        mine = (await sup.get("/inspections", headers=as_inspector(outsider))).json()["items"]
        assert inspection["id"] not in {i["id"] for i in mine}
        as_regulator = await sup.post(f"/inspections/{inspection['id']}/result", headers=REGULATOR, json=result)
        assert as_regulator.status_code == 403
        assert (await sup.get("/public/inspections", params={"organisation": body})).json()["items"] == []

        new_campaign = {"name": "mine", "target_kinds": ["enterprise"], "seed": "s"}
        assert (await sup.post("/campaigns", headers=as_inspector(outsider), json=new_campaign)).status_code == 403
        assert (await sup.post("/campaigns", json=new_campaign)).status_code == 401
        assert (await sup.post(f"/campaigns/{campaign['id']}/draw", headers=as_inspector(outsider))).status_code == 403

        recorded = await sup.post(
            f"/inspections/{inspection['id']}/result", headers=as_inspector(inspection["inspectors"][1]), json=result
        )
        assert recorded.status_code == 200, recorded.text
        again = await sup.post(
            f"/inspections/{inspection['id']}/result", headers=as_inspector(inspection["inspectors"][0]), json=result
        )
        assert again.status_code == 409
        public = (await sup.get("/public/inspections", params={"organisation": body})).json()["items"]
        assert [(p["inspection_id"], p["verdict"]) for p in public] == [(inspection["id"], "pass")]
