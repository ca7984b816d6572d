"""Supervision's use cases against a real SQLite database, with no broker: campaigns and
their verifiable draws, who records drawn inspections, credit classes from consumed events
and their restoration, and what the public sees.

Kafka points at an unreachable address, so a use case that touched the broker would fail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from conformity_shared import events
from conformity_shared.clock import FixedClock
from conformity_shared.envelope import Envelope, causal_context, decode_headers
from conformity_shared.errors import DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import (
    OBSERVER,
    REGULATOR,
    approval_granted,
    campaign_request,
    certificate_issued,
    commitment,
    inspector,
    inspector_body,
    new_uscc,
)

from supervision import db, domain, scheduler, service, verify_draw
from supervision.commands import CreateCampaign, OrderInspection, RecordResult, RegisterInspector
from supervision.domain import draw, draw_record

# The fixtures of conftest.py that list the directories.
Deliver = Callable[..., Awaitable[str]]
Directory = Callable[..., Awaitable[dict[str, list[str]]]]
RegisterInspectors = Callable[..., Awaitable[list[str]]]

ONLY_D = {"A": "0", "B": "0", "C": "0", "D": "1"}


Campaigns = Any  # the conftest fixture that walks campaigns through their lifecycle


async def outbox(rt: ServiceRuntime) -> list[dict[str, Any]]:
    async with rt.sessions() as session:
        rows = (await session.execute(sa.select(db.outbox).order_by(db.outbox.c.seq))).all()
    return [
        {"type": r.event_type, "key": r.key, "topic": r.topic,
         "headers": {k: v.decode() for k, v in decode_headers(r.headers)}, "body": json.loads(r.payload)}
        for r in rows
    ]


async def campaign_inspections(rt: ServiceRuntime, campaign_id: str) -> list[dict[str, Any]]:
    return (await service.list_inspections(rt, REGULATOR, campaign_id, None, 1000, 0))["items"]


async def credit_class(rt: ServiceRuntime, org: str) -> str:
    return (await service.get_target(rt, org))["credit_class"]


# --- campaigns: committed, frozen, revealed, drawn once the beacon is due ----------------------


async def test_directories_changed_after_the_seed_is_known_cannot_confirm(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory(bodies=1, labs=1, enterprises=2)
    await register_inspectors(3)
    frozen = await campaigns.frozen()
    snapshot_at_freeze, digest = await service.published_snapshot(runtime, frozen["id"])
    assert frozen["status"] == "frozen" and frozen["snapshot_hash"] == digest

    # The auditor's attack: with the seed's inputs becoming known, change the directories.
    late = await register_inspectors(1)
    await service.register_inspector(
        runtime, REGULATOR, RegisterInspector(**inspector_body("insp-inactive", active=False))
    )
    await directory(bodies=1, labs=0, enterprises=0)
    for party in ("notary-fuzhou", "regulator"):
        await campaigns.reveal(frozen["id"], party)
    campaigns.move_to(dt.datetime.fromisoformat(frozen["beacon"]["due"]))
    drawn = await campaigns.draw(frozen["id"])

    snapshot_bytes, drawn_digest = await service.published_snapshot(runtime, frozen["id"])
    assert (snapshot_bytes, drawn_digest) == (snapshot_at_freeze, digest)  # later changes did not enter it
    assert {i.id for i in draw.Snapshot.from_json(snapshot_bytes).inspectors}.isdisjoint({*late, "insp-inactive"})
    record = await service.published_draw(runtime, frozen["id"])
    assert record["snapshot_hash"] == digest and drawn["snapshot_hash"] == digest
    assert draw_record.verify_record(record, snapshot_bytes).ok

    # A record whose snapshot was frozen after a reveal is refuted.
    first_reveal = min(p["revealed_at"] for p in record["parties"])
    late_freeze = {**record, "frozen_at": (dt.datetime.fromisoformat(first_reveal) + dt.timedelta(seconds=1)).isoformat()}
    verification = draw_record.verify_record(late_freeze, snapshot_bytes)
    assert not verification.ok
    assert any("frozen" in d and "after" in d for d in verification.differences)


async def test_the_cli_checks_a_published_record_from_local_files_and_names_each_failure(
    runtime: ServiceRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    directory: Directory,
    register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    await directory()
    await register_inspectors(3)
    drawn = await campaigns.drawn()
    record = await service.published_draw(runtime, drawn["id"])
    snapshot_bytes, _ = await service.published_snapshot(runtime, drawn["id"])
    record_file, snapshot_file, forged_file = tmp_path / "record.json", tmp_path / "snapshot.json", tmp_path / "forged.json"
    record_file.write_text(json.dumps(record))
    snapshot_file.write_bytes(snapshot_bytes)

    assert verify_draw.main(["--record", str(record_file), "--snapshot", str(snapshot_file)]) == 0
    assert capsys.readouterr().out.startswith("CONFIRMED")

    last_reveal = max(dt.datetime.fromisoformat(p["revealed_at"]) for p in record["parties"])
    forged_file.write_text(json.dumps({**record, "frozen_at": (last_reveal + dt.timedelta(seconds=1)).isoformat()}))
    assert verify_draw.main(["--record", str(forged_file), "--snapshot", str(snapshot_file)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("REFUTED") and "frozen at" in out and "after party" in out


async def test_a_reveal_not_matching_its_commitment_is_refused_and_refuted_if_forged_into_the_record(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory()
    await register_inspectors(3)
    frozen = await campaigns.frozen()

    with pytest.raises(DomainError) as refused:
        await campaigns.reveal(frozen["id"], OBSERVER, secret="f" * 64)
    assert (refused.value.status_code, refused.value.field) == (422, "secret")
    assert refused.value.rules[0]["rule"] == "reveal_does_not_match_commitment"

    drawn = await campaigns_drawn_from(campaigns, frozen)
    record = await service.published_draw(runtime, drawn["id"])
    snapshot_bytes, _ = await service.published_snapshot(runtime, drawn["id"])
    forged = json.loads(json.dumps(record))
    [observer_entry] = [p for p in forged["parties"] if p["party"] == OBSERVER]
    observer_entry["secret"] = "f" * 64
    verification = draw_record.verify_record(forged, snapshot_bytes)
    assert not verification.ok
    assert any("does not match" in d and OBSERVER in d for d in verification.differences)


async def campaigns_drawn_from(campaigns: Campaigns, frozen: dict[str, Any]) -> dict[str, Any]:
    """Every party reveals; the campaign is drawn once the beacon is due."""
    for party in frozen["parties"]:
        await campaigns.reveal(frozen["id"], party["party"])
    campaigns.move_to(dt.datetime.fromisoformat(frozen["beacon"]["due"]))
    return await campaigns.draw(frozen["id"])


async def test_each_step_of_the_lifecycle_is_refused_out_of_its_order(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory()
    await register_inspectors(3)
    created = await campaigns.create()
    campaign_id = created["id"]

    async def refused(step: Awaitable[Any], status: int, rule: str) -> None:
        with pytest.raises(DomainError) as answer:
            await step
        assert answer.value.status_code == status, answer.value
        assert answer.value.rules[0]["rule"] == rule, answer.value.rules

    await refused(campaigns.reveal(campaign_id, "regulator"), 409, "reveal_after_freeze")
    await refused(campaigns.draw(campaign_id), 409, "draw_after_freeze")
    await campaigns.commit(campaign_id, "regulator")
    await refused(campaigns.freeze(campaign_id), 409, "every_party_commits_before_freeze")
    await campaigns.commit(campaign_id, OBSERVER)
    await campaigns.freeze(campaign_id)
    await refused(campaigns.commit(campaign_id, OBSERVER), 409, "commitments_before_freeze")
    await refused(campaigns.freeze(campaign_id), 409, "freeze_once")
    for party in ("regulator", OBSERVER):
        await campaigns.reveal(campaign_id, party)
    await refused(campaigns.reveal(campaign_id, OBSERVER), 409, "reveal_once")
    await refused(campaigns.draw(campaign_id), 409, "draw_after_beacon_due")  # the beacon is not published yet
    assert (await service.get_campaign(runtime, campaign_id))["status"] == "frozen"
    campaigns.move_to(dt.datetime.fromisoformat(created["beacon"]["due"]))
    assert (await campaigns.draw(campaign_id))["status"] == "drawn"
    await refused(campaigns.cancel(campaign_id, "too late"), 409, "cancel_before_draw")


async def test_a_reveal_after_the_deadline_is_refused(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory()
    await register_inspectors(3)
    frozen = await campaigns.frozen()
    campaigns.move_to(dt.datetime.fromisoformat(frozen["reveal_deadline"]) + dt.timedelta(microseconds=1))
    with pytest.raises(DomainError) as refused:
        await campaigns.reveal(frozen["id"], OBSERVER)
    assert (refused.value.status_code, refused.value.rules[0]["rule"]) == (409, "reveal_by_the_deadline")


async def test_a_party_that_never_reveals_does_not_block_the_draw_and_is_named_withheld(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory()
    await register_inspectors(3)

    drawn = await campaigns.drawn(withhold=[OBSERVER])

    assert drawn["status"] == "drawn" and drawn["withheld"] == [OBSERVER]
    record = await service.published_draw(runtime, drawn["id"])
    by_party = {p["party"]: p for p in record["parties"]}
    assert by_party[OBSERVER]["withheld"] is True and by_party[OBSERVER]["secret"] is None
    assert by_party["regulator"]["withheld"] is False
    secrets_used = {"regulator": by_party["regulator"]["secret"], OBSERVER: ""}  # a withheld secret counts as ""
    assert record["seed"] == draw_record.derive_seed(record["snapshot_hash"], secrets_used, record["beacon"]["value"])
    snapshot_bytes, _ = await service.published_snapshot(runtime, drawn["id"])
    assert draw_record.verify_record(record, snapshot_bytes).ok


async def test_the_same_commitment_from_two_parties_is_refused(
    runtime: ServiceRuntime, campaigns: Campaigns
) -> None:
    created = await campaigns.create(observers=[OBSERVER, "discipline-office"])
    copied = commitment(OBSERVER, "a secret only the notary office knows, 32+ characters")
    await campaigns.commit(created["id"], OBSERVER, copied)
    with pytest.raises(DomainError) as refused:
        await campaigns.commit(created["id"], "discipline-office", copied)
    assert (refused.value.status_code, refused.value.rules[0]["rule"]) == (409, "commitment_unique")


async def test_a_campaign_is_cancelled_with_its_reason_and_is_public(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory()
    await register_inspectors(3)
    frozen = await campaigns.frozen()
    with pytest.raises(DomainError) as refused:
        await campaigns.cancel(frozen["id"], "  ")
    assert (refused.value.status_code, refused.value.field) == (422, "reason")

    cancelled = await campaigns.cancel(frozen["id"], "the beacon's lottery draw was postponed")

    assert cancelled["status"] == "cancelled"
    public = await service.public_campaign(runtime, frozen["id"])
    assert public["cancel_reason"] == "the beacon's lottery draw was postponed" and public["cancelled_at"]
    with pytest.raises(DomainError):
        await campaigns.draw(frozen["id"])


async def test_the_commitments_and_the_frozen_snapshot_hash_are_public_before_the_draw(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, campaigns: Campaigns
) -> None:
    await directory()
    await register_inspectors(3)
    created = await campaigns.create()
    await campaigns.commit(created["id"], "regulator")
    public = await service.public_campaign(runtime, created["id"])
    [regulator] = [p for p in public["parties"] if p["party"] == "regulator"]
    assert regulator["commitment"] == commitment("regulator", campaigns.secret(created["id"], "regulator"))
    assert regulator["secret"] is None and public["snapshot_hash"] is None

    await campaigns.commit(created["id"], OBSERVER)
    frozen = await campaigns.freeze(created["id"])

    public = await service.public_campaign(runtime, created["id"])
    assert public["snapshot_hash"] == frozen["snapshot_hash"] and public["frozen_at"] == frozen["frozen_at"]
    assert public["seed"] is None and public["result"] is None
    assert all(p["committed_at"] <= public["frozen_at"] for p in public["parties"])


async def test_a_campaign_drawn_before_commit_reveal_is_published_under_its_own_scheme_and_re_runs(
    runtime: ServiceRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the migration leaves a campaign drawn with a seed published at its creation.
    targets = [draw.Target(new_uscc(), events.OrganisationKind.ENTERPRISE, "Beijing Kettle Works", "A")]
    people = [draw.Inspector(f"INS-{i}", "Zhang San", new_uscc(), "110000") for i in range(2)]
    parameters = draw.CampaignParameters(kinds=frozenset(events.OrganisationKind), ratios=dict.fromkeys("ABCD", "1"))
    snapshot = draw.Snapshot(tuple(targets), tuple(people), {}, parameters)
    result = draw.draw("lottery 2024-05-01", snapshot)
    now = dt.datetime.now(dt.UTC)
    async with runtime.sessions() as session:
        await session.execute(sa.insert(db.campaigns).values(
            id="legacy-1", name="2024 H1", target_kinds=sorted(parameters.kinds), ratios=dict.fromkeys("ABCD", "1"),
            inspectors_per_target=2, seed_scheme=draw_record.PUBLISHED_SEED, seed="lottery 2024-05-01",
            status="drawn", snapshot=snapshot.canonical_bytes, snapshot_hash=snapshot.hash,
            result=json.loads(result.to_json()), created_at=now, drawn_at=now,
        ))
        await session.commit()

    record = await service.published_draw(runtime, "legacy-1")

    assert (record["seed_scheme"], record["seed"], record["parties"]) == (draw_record.PUBLISHED_SEED, "lottery 2024-05-01", [])
    verification = draw_record.verify_record(record, snapshot.canonical_bytes)
    assert verification.ok and "predates commit-reveal" in verification.notes[0]
    published = verify_draw.PublishedDraw(
        record["seed"], snapshot.canonical_bytes, json.dumps(record["result"]).encode(), record=record
    )
    assert verify_draw.report(verify_draw.check(published)) == 0
    assert "note: this record predates commit-reveal" in capsys.readouterr().out


# --- campaigns: creating and drawing ------------------------------------------------------------


async def test_campaign_draw_opens_one_inspection_per_drawn_target_with_its_inspectors(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    made = await directory()
    await register_inspectors(5)

    campaign = await campaigns.drawn()

    assert campaign["status"] == "drawn"
    assert campaign["drawn"] == 7
    assert {c["credit_class"]: c["drawn"] for c in campaign["counts"]} == {"A": 7, "B": 0, "C": 0, "D": 0}
    published = await service.published_draw(runtime, campaign["id"])
    result = draw.DrawResult.from_json(json.dumps(published["result"]))
    inspections = await campaign_inspections(runtime, campaign["id"])
    assert len(inspections) == len(result.targets) == 7
    by_target = {i["target_uscc"]: i for i in inspections}
    for target in result.targets:
        inspection = by_target[target.target_id]
        assert inspection["inspectors"] == list(target.inspector_ids)
        assert len(inspection["inspectors"]) == 2
        assert inspection["status"] == "assigned"
        assert inspection["campaign_id"] == campaign["id"]
    kinds = {i["target_uscc"]: i["kind"] for i in inspections}
    assert {kinds[o] for o in made["certification_body"] + made["testing_lab"]} == {"organisation_inspection"}
    assert {kinds[o] for o in made["enterprise"]} == {"product_spot_check"}
    assert await outbox(runtime) == []  # a draw publishes on the public endpoint, not as an event


async def test_drawn_campaign_stores_the_snapshot_bytes_its_hash_and_a_result_that_verifies(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    await directory(bodies=3, labs=1, enterprises=6)
    await register_inspectors(4)
    campaign = await campaigns.drawn(ratios={"A": "0.5", "B": "0.5", "C": "0.6", "D": "1"})

    snapshot_bytes, digest = await service.published_snapshot(runtime, campaign["id"])
    published = await service.published_draw(runtime, campaign["id"])

    assert digest == hashlib.sha256(snapshot_bytes).hexdigest() == campaign["snapshot_hash"]
    assert published["snapshot_hash"] == digest == published["result"]["snapshot_hash"]
    secrets_revealed = {p["party"]: p["secret"] for p in published["parties"]}
    derived = draw_record.derive_seed(digest, secrets_revealed, published["beacon"]["value"])
    assert published["seed"] == derived == published["result"]["seed"] == campaign["seed"]
    assert published["algorithm"] == draw.ALGORITHM
    snapshot = draw.Snapshot.from_json(snapshot_bytes)
    assert snapshot.canonical_bytes == snapshot_bytes
    assert len(snapshot.targets) == 10 and len(snapshot.inspectors) == 4
    assert draw.verify(published["seed"], snapshot, json.dumps(published["result"]))
    assert verify_draw.check(
        verify_draw.PublishedDraw(
            published["seed"], snapshot_bytes, json.dumps(published["result"]).encode(), digest, published["algorithm"]
        )
    ).ok


async def test_verification_fails_when_one_directory_entry_in_the_snapshot_is_changed(
    runtime: ServiceRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    directory: Directory,
    register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    made = await directory()
    await register_inspectors(4)
    campaign = await campaigns.drawn(ratios={"A": "0.5", "B": "1", "C": "1", "D": "1"})
    snapshot_bytes, digest = await service.published_snapshot(runtime, campaign["id"])
    published = await service.published_draw(runtime, campaign["id"])

    document = json.loads(snapshot_bytes)
    entry = next(t for t in document["targets"] if t["id"] == made["enterprise"][0])
    entry["credit_class"] = "D"  # one directory entry, as if the enterprise had been listed as class D
    changed = draw.Snapshot.from_json(json.dumps(document))

    verification = draw.verify(published["seed"], changed, json.dumps(published["result"]))
    assert not verification.ok
    assert any(digest in d for d in verification.differences)

    # The CLI, on local files: the published files confirm, the changed snapshot refutes.
    result_file, snapshot_file, changed_file = tmp_path / "result.json", tmp_path / "snapshot.json", tmp_path / "changed.json"
    result_file.write_text(json.dumps(published["result"]))
    snapshot_file.write_bytes(snapshot_bytes)
    changed_file.write_bytes(changed.canonical_bytes)
    seed = published["seed"]
    assert verify_draw.main(["--snapshot", str(snapshot_file), "--result", str(result_file), "--seed", seed, "--hash", digest]) == 0
    assert capsys.readouterr().out.startswith("CONFIRMED")
    assert verify_draw.main(["--snapshot", str(changed_file), "--result", str(result_file), "--seed", seed]) == 1
    out = capsys.readouterr().out
    assert out.startswith("REFUTED") and digest in out


async def test_a_drawn_campaign_is_never_redrawn(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    await directory()
    await register_inspectors(3)
    campaign = await campaigns.drawn()

    with pytest.raises(domain.CampaignAlreadyDrawn) as refused:
        await campaigns.draw(campaign["id"])
    assert refused.value.status_code == 409
    assert len(await campaign_inspections(runtime, campaign["id"])) == campaign["drawn"]


async def test_too_few_inspectors_refuses_the_whole_draw_listing_the_shortfalls(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    made = await directory(bodies=1, labs=0, enterprises=1)
    body = made["certification_body"][0]
    await register_inspectors(1)
    await register_inspectors(1, organisation=body)  # works for the body: a conflict of interest
    created = await campaigns.create()
    for party in ("regulator", OBSERVER):
        await campaigns.commit(created["id"], party)

    # Refused at the freeze, on the snapshot the draw would use: a drawable target lacks inspectors.
    with pytest.raises(domain.DrawRefused) as refused:
        await campaigns.freeze(created["id"])

    answer = refused.value.body()
    assert refused.value.status_code == 422 and answer["field"] == "inspectors"
    # Only the body is short: the enterprise may have both inspectors.
    assert answer["shortfall_count"] == 1
    [shortfall] = answer["shortfalls"]
    assert (shortfall["target_id"], shortfall["required"], shortfall["active"]) == (body, 2, 2)
    assert (shortfall["eligible"], shortfall["same_organisation"]) == (1, 1)
    assert body in answer["detail"]
    assert (await service.get_campaign(runtime, created["id"]))["status"] == "created"
    assert await campaign_inspections(runtime, created["id"]) == []  # no partial draw

    await register_inspectors(2)
    frozen = await campaigns.freeze(created["id"])
    assert frozen["status"] == "frozen"
    for party in ("regulator", OBSERVER):
        await campaigns.reveal(created["id"], party)
    campaigns.move_to(dt.datetime.fromisoformat(frozen["beacon"]["due"]))
    assert (await campaigns.draw(created["id"]))["status"] == "drawn"


async def test_campaign_parameters_outside_the_rules_are_refused_naming_the_field(runtime: ServiceRuntime) -> None:
    cases = [
        ({"inspectors_per_target": 1}, "inspectors_per_target"),
        ({"ratios": {"A": "1.5", "B": "0", "C": "0", "D": "1"}}, "ratios"),
        ({"ratios": {"A": "0.05", "B": "0.2", "C": "0.6"}}, "ratios"),
        ({"target_kinds": []}, "kinds"),
        ({"observers": []}, "observers"),
        ({"observers": ["regulator"]}, "observers"),
        ({"observers": [OBSERVER, OBSERVER]}, "observers"),
        ({"beacon_source": "  "}, "beacon_source"),
        ({"reveal_deadline": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "reveal_deadline"),
        ({"beacon_due": dt.datetime.now(dt.UTC)}, "beacon_due"),  # not after the reveal deadline
    ]
    for change, field in cases:
        with pytest.raises(DomainError) as refused:
            # Built without the HTTP validation, so that the use case's own rules answer.
            request = campaign_request() | {
                name: dt.datetime.fromisoformat(value) for name, value in campaign_request().items()
                if name in ("reveal_deadline", "beacon_due")
            }
            await service.create_campaign(runtime, REGULATOR, CreateCampaign.model_construct(**(request | change)))
        assert (refused.value.status_code, refused.value.field) == (422, field), change


def test_a_campaign_request_naming_a_seed_is_refused_saying_the_seed_is_derived() -> None:
    with pytest.raises(ValidationError) as refused:
        CreateCampaign(**campaign_request(seed="lottery 2024-05-01: 03 17 22 28 31 + 09"))
    [error] = refused.value.errors()
    assert error["loc"] == ("seed",) and "derived" in error["msg"]


async def test_a_campaign_that_would_draw_nothing_is_refused_naming_the_ratios(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    await directory(bodies=1, labs=1, enterprises=2)  # every target in class A
    await register_inspectors(3)
    created = await campaigns.create(ratios=ONLY_D)
    for party in ("regulator", OBSERVER):
        await campaigns.commit(created["id"], party)

    with pytest.raises(DomainError) as refused:  # refused at the freeze, on the snapshot the draw would use
        await campaigns.freeze(created["id"])

    assert (refused.value.status_code, refused.value.field) == (422, "ratios")
    assert refused.value.rules[0]["rule"] == "campaign_draws_something"
    assert "D" in refused.value.message
    assert (await service.get_campaign(runtime, created["id"]))["status"] == "created"


async def test_the_next_campaign_excludes_the_inspectors_who_inspected_a_target_in_the_previous_one(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    made = await directory(bodies=1, labs=0, enterprises=0)
    body = made["certification_body"][0]
    await register_inspectors(4)
    first = await campaigns.drawn()
    second = await campaigns.drawn()

    [before] = await campaign_inspections(runtime, first["id"])
    [after] = await campaign_inspections(runtime, second["id"])
    assert before["target_uscc"] == after["target_uscc"] == body
    assert not set(before["inspectors"]) & set(after["inspectors"])
    snapshot = draw.Snapshot.from_json((await service.published_snapshot(runtime, second["id"]))[0])
    assert snapshot.previous_assignments == {body: tuple(before["inspectors"])}

    # With only those four inspectors, a third campaign must exclude the second's two: still possible.
    third = await campaigns.drawn()
    [again] = await campaign_inspections(runtime, third["id"])
    assert set(again["inspectors"]) == set(before["inspectors"])


async def test_a_lowered_credit_class_is_sampled_in_the_next_campaign(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, deliver: Deliver,
    campaigns: Campaigns,
) -> None:
    made = await directory(bodies=2, labs=0, enterprises=0)
    breached, clean = made["certification_body"]
    await register_inspectors(3)
    # Before the breach no body is in class D: the campaign would draw nothing and is refused.
    with pytest.raises(domain.CampaignDrawsNothing):
        await campaigns.drawn(ratios=ONLY_D)

    breach = events.CommitmentBreachedV1(
        approval_id=str(uuid.uuid4()), organisation_uscc=breached, kind="certification_body",
        verification_id="VER-1", findings="only 4 qualified staff, 12 declared",
    )
    assert await deliver(breach) == "handled"

    after = await campaigns.drawn(ratios=ONLY_D)
    assert [i["target_uscc"] for i in await campaign_inspections(runtime, after["id"])] == [breached]
    assert clean not in {t["id"] for t in (await service.published_draw(runtime, after["id"]))["result"]["targets"]}


async def test_organisations_listed_only_by_a_failure_are_not_drawn_until_their_kind_is_known(
    runtime: ServiceRuntime, register_inspectors: RegisterInspectors, deliver: Deliver,
    campaigns: Campaigns,
) -> None:
    lab = new_uscc()
    failure = events.LabFailureV1(
        lab_uscc=lab, field="TL-ELEC", failure="blind_sample_failed", reference_id="BS-1", detail="outside tolerance"
    )
    await deliver(failure)  # before the lab's own approval.granted
    await register_inspectors(2)
    # A target of unknown kind is not drawable: the campaign would draw nothing and is refused.
    with pytest.raises(domain.CampaignDrawsNothing):
        await campaigns.drawn()

    await deliver(approval_granted(lab, kind="testing_lab"))
    campaign = await campaigns.drawn()
    assert [t["id"] for t in (await service.published_draw(runtime, campaign["id"]))["result"]["targets"]] == [lab]


# --- drawn inspections are recorded by their assigned inspectors -----------------------------


async def test_only_an_assigned_inspector_records_a_drawn_spot_check_and_its_failure_is_emitted(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors, deliver: Deliver,
    campaigns: Campaigns,
) -> None:
    made = await directory(bodies=1, labs=0, enterprises=1)
    holder = made["enterprise"][0]
    number = "CN-SPOT-0001"
    await deliver(certificate_issued(holder, made["certification_body"][0], number))
    inspectors = await register_inspectors(3)
    campaign = await campaigns.drawn(target_kinds=["enterprise"])
    [inspection] = await campaign_inspections(runtime, campaign["id"])
    outsider = next(i for i in inspectors if i not in inspection["inspectors"])
    failing = {"verdict": None, "findings": "sample overheats (GB 4706.19 clause 11)",
               "samples": [{"certificate_number": number, "passed": False, "finding": "overheating"}]}

    with pytest.raises(domain.NotAssignedInspector) as refused:
        await service.record_result(runtime, inspector(outsider), RecordResult(inspection_id=inspection["id"], **failing))
    assert refused.value.status_code == 403
    with pytest.raises(NotFound):  # nor may an unassigned inspector read it
        await service.get_inspection(runtime, inspector(outsider), inspection["id"])

    seen = await service.get_inspection(runtime, inspector(inspection["inspectors"][0]), inspection["id"])
    assert number in {c["number"] for c in seen["holder_certificates"]}
    with causal_context("corr-spot-check", "corr-spot-check"):
        done = await service.record_result(
            runtime, inspector(inspection["inspectors"][0]), RecordResult(inspection_id=inspection["id"], **failing)
        )

    assert (done["status"], done["verdict"]) == ("completed", "fail")
    # The answer is built from what the transaction wrote, not read back: it is what a read gives.
    assert done == await service.get_inspection(runtime, inspector(inspection["inspectors"][0]), inspection["id"])
    assert done["samples"] == failing["samples"] and done["completed_at"] is not None
    emitted = await outbox(runtime)
    spot_check = next(e for e in emitted if e["type"] == "supervision.spot_check_failed.v1")
    assert spot_check["key"] == inspection["id"]
    assert spot_check["body"]["certificate_numbers"] == [number]
    assert spot_check["body"]["holder_uscc"] == holder
    assert spot_check["headers"]["ce_correlationid"] == "corr-spot-check"
    assert await credit_class(runtime, holder) == "B"


async def test_results_of_drawn_inspections_are_public_only_once_recorded(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    made = await directory(bodies=1, labs=0, enterprises=0)
    body = made["certification_body"][0]
    await register_inspectors(2)
    campaign = await campaigns.drawn(target_kinds=["certification_body"])
    [inspection] = await campaign_inspections(runtime, campaign["id"])
    assert (await service.published_results(runtime, body, None, None, 100, 0))["items"] == []

    await service.record_result(
        runtime, inspector(inspection["inspectors"][1]),
        RecordResult(inspection_id=inspection["id"], verdict="pass", findings="", samples=[]),
    )
    [public] = (await service.published_results(runtime, body, None, None, 100, 0))["items"]
    assert (public["inspection_id"], public["verdict"], public["target_uscc"]) == (inspection["id"], "pass", body)


async def test_a_result_is_published_on_the_regulators_business_day(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    # 07:30 on 2 May in Beijing, still 1 May in UTC.
    runtime.clock = FixedClock(instant=dt.datetime(2024, 5, 1, 23, 30, tzinfo=dt.UTC))
    made = await directory(bodies=1, labs=0, enterprises=0)
    body = made["certification_body"][0]
    await register_inspectors(2)
    campaign = await campaigns.drawn(target_kinds=["certification_body"])
    [inspection] = await campaign_inspections(runtime, campaign["id"])
    await service.record_result(
        runtime, inspector(inspection["inspectors"][0]),
        RecordResult(inspection_id=inspection["id"], verdict="pass", findings="", samples=[]),
    )

    async def published(since: dt.date | None, until: dt.date | None) -> list[dict[str, Any]]:
        return (await service.published_results(runtime, body, since, until, 100, 0))["items"]

    [public] = await published(None, None)
    assert public["date"] == "2024-05-02"
    assert await published(dt.date(2024, 5, 2), dt.date(2024, 5, 2)) == [public]
    assert await published(None, dt.date(2024, 5, 1)) == []
    assert await published(dt.date(2024, 5, 3), None) == []


# --- inspections ordered by hand follow the draw's assignment rules -----------------------------


def spot_check_order(holder: str, inspector_ids: list[str], **extra: Any) -> OrderInspection:
    return OrderInspection(
        target_uscc=holder, target_kind="enterprise", kind="product_spot_check", inspector_ids=inspector_ids, **extra
    )


async def test_an_inspection_ordered_by_hand_with_one_inspector_is_refused_naming_the_rule(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors
) -> None:
    holder = (await directory(bodies=1, labs=0, enterprises=1))["enterprise"][0]
    [only] = await register_inspectors(1)

    with pytest.raises(DomainError) as refused:
        await service.order_inspection(runtime, REGULATOR, spot_check_order(holder, [only]))

    assert (refused.value.status_code, refused.value.field) == (422, "inspector_ids")
    assert [r["rule"] for r in refused.value.rules] == ["min_inspectors_per_target"]
    assert await service.list_inspections(runtime, REGULATOR, None, None, 100, 0) == {"items": []}


async def test_an_inspector_of_the_previous_drawn_campaign_is_not_ordered_to_the_same_target(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors,
    campaigns: Campaigns,
) -> None:
    holder = (await directory(bodies=0, labs=0, enterprises=1))["enterprise"][0]
    inspectors = await register_inspectors(4)
    campaign = await campaigns.drawn(target_kinds=["enterprise"])
    [drawn] = await campaign_inspections(runtime, campaign["id"])
    others = [i for i in inspectors if i not in drawn["inspectors"]]

    with pytest.raises(DomainError) as refused:
        await service.order_inspection(runtime, REGULATOR, spot_check_order(holder, [drawn["inspectors"][0], others[0]]))

    assert (refused.value.status_code, refused.value.field) == (422, "inspector_ids")
    [rule] = refused.value.rules
    assert rule["rule"] == "previous_campaign_conflict" and drawn["inspectors"][0] in rule["detail"]
    ordered = await service.order_inspection(runtime, REGULATOR, spot_check_order(holder, others))
    assert ordered["override"] is None


async def test_an_override_is_recorded_with_its_reason_on_the_inspection_and_shown_in_its_view(
    runtime: ServiceRuntime, directory: Directory, register_inspectors: RegisterInspectors
) -> None:
    holder = (await directory(bodies=1, labs=0, enterprises=1))["enterprise"][0]
    [only] = await register_inspectors(1)
    reason = "flood in the region: one inspector can reach the factory this week"

    without_reason = {"rules": ["min_inspectors_per_target"], "reason": " "}
    with pytest.raises(DomainError) as refused:
        await service.order_inspection(runtime, REGULATOR, spot_check_order(holder, [only], override=without_reason))
    assert (refused.value.status_code, refused.value.field) == (422, "override.reason")

    override = {"rules": ["min_inspectors_per_target"], "reason": reason}
    ordered = await service.order_inspection(runtime, REGULATOR, spot_check_order(holder, [only], override=override))

    assert ordered["inspectors"] == [only]
    assert ordered["override"] == {"rules": ["min_inspectors_per_target"], "reason": reason}
    assert (await service.get_inspection(runtime, REGULATOR, ordered["id"]))["override"] == ordered["override"]


# --- credit classes from consumed events --------------------------------------------------------


async def test_a_breached_commitment_lowers_the_body_to_d_with_its_cause_and_emits_the_change(
    runtime: ServiceRuntime, deliver: Deliver
) -> None:
    body = new_uscc()
    await deliver(approval_granted(body))
    breach = events.CommitmentBreachedV1(
        approval_id=str(uuid.uuid4()), organisation_uscc=body, kind="certification_body",
        verification_id="VER-2024-0007", findings="premises do not exist",
    )
    envelope = Envelope.for_event(breach, "/conformity/approval")

    assert await deliver(breach, envelope) == "handled"

    target = await service.get_target(runtime, body)
    assert target["credit_class"] == "D"
    [change] = target["credit_history"]
    assert (change["previous"], change["current"]) == ("A", "D")
    assert change["cause"] == "commitment_breached (VER-2024-0007)"
    assert change["cause_event_id"] == envelope.id
    [emitted] = await outbox(runtime)
    assert (emitted["type"], emitted["key"], emitted["topic"]) == ("supervision.credit_class_changed.v1", body, "supervision.events")
    assert emitted["body"] == {"organisation_uscc": body, "previous": "A", "current": "D", "cause": change["cause"]}
    assert emitted["headers"]["ce_correlationid"] == envelope.correlation_id
    assert emitted["headers"]["ce_causationid"] == envelope.id


async def test_each_lab_failure_lowers_the_lab_one_class_and_a_redelivery_changes_nothing(
    runtime: ServiceRuntime, deliver: Deliver
) -> None:
    lab = new_uscc()
    await deliver(approval_granted(lab, kind="testing_lab"))
    first = events.LabFailureV1(lab_uscc=lab, field="TL-ELEC", failure="action_signal", reference_id="PT-1", detail="z=3.4")
    second = events.LabFailureV1(lab_uscc=lab, field="TL-ELEC", failure="action_signal", reference_id="PT-2", detail="z=3.1")
    envelope = Envelope.for_event(first, "/conformity/proficiency")

    assert await deliver(first, envelope) == "handled"
    assert await deliver(first, envelope) == "duplicate"
    assert await credit_class(runtime, lab) == "B"
    assert await deliver(second) == "handled"

    history = (await service.get_target(runtime, lab))["credit_history"]
    assert [(h["previous"], h["current"], h["cause"]) for h in history] == [
        ("A", "B", "lab_failure (TL-ELEC:PT-1)"),
        ("B", "C", "lab_failure (TL-ELEC:PT-2)"),
    ]
    changes = [e for e in await outbox(runtime) if e["type"] == "supervision.credit_class_changed.v1"]
    assert [(e["body"]["previous"], e["body"]["current"]) for e in changes] == [("A", "B"), ("B", "C")]


async def test_credit_is_restored_one_class_per_clean_period_and_each_step_is_emitted(
    runtime: ServiceRuntime, deliver: Deliver
) -> None:
    lab, other = new_uscc(), new_uscc()
    await deliver(approval_granted(lab, kind="testing_lab"))
    await deliver(approval_granted(other, kind="testing_lab"))
    for reference in ("PT-1", "PT-2"):
        await deliver(
            events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="action_signal", reference_id=reference, detail="z=3.2"),
        )
    assert await credit_class(runtime, lab) == "C"
    now = dt.datetime.now(dt.UTC)

    assert await service.restore_clean_credit(runtime, now + dt.timedelta(days=364)) == 0
    assert await credit_class(runtime, lab) == "C"

    assert await service.restore_clean_credit(runtime, now + dt.timedelta(days=366)) == 1
    assert await credit_class(runtime, lab) == "B"
    assert await service.restore_clean_credit(runtime, now + dt.timedelta(days=366)) == 0  # the next period runs on

    assert await service.restore_clean_credit(runtime, now + dt.timedelta(days=3 * 365 + 2)) == 1
    assert await credit_class(runtime, lab) == "A"
    assert await credit_class(runtime, other) == "A"

    history = (await service.get_target(runtime, lab))["credit_history"]
    assert [(h["previous"], h["current"], h["cause"]) for h in history][-2:] == [
        ("C", "B", domain.RESTORATION_CAUSE),
        ("B", "A", domain.RESTORATION_CAUSE),
    ]
    restorations = [
        e["body"] for e in await outbox(runtime)
        if e["type"] == "supervision.credit_class_changed.v1" and e["body"]["cause"] == domain.RESTORATION_CAUSE
    ]
    assert [(r["organisation_uscc"], r["previous"], r["current"]) for r in restorations] == [(lab, "C", "B"), (lab, "B", "A")]


async def test_a_failure_restarts_the_clean_period(runtime: ServiceRuntime, deliver: Deliver) -> None:
    lab = new_uscc()
    await deliver(approval_granted(lab, kind="testing_lab"))
    await deliver(
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="action_signal", reference_id="PT-1", detail="z=3.2"),
    )
    async with runtime.sessions() as session:  # the failure happened 300 days ago
        await session.execute(
            sa.update(db.targets).where(db.targets.c.uscc == lab)
            .values(clean_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=300))
        )
        await session.commit()
    await deliver(
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="blind_sample_failed", reference_id="BS-2", detail="out"),
    )
    assert await service.restore_clean_credit(runtime, dt.datetime.now(dt.UTC) + dt.timedelta(days=100)) == 0
    assert await credit_class(runtime, lab) == "C"




async def test_a_restoration_step_moves_only_the_standing_it_read(runtime: ServiceRuntime, deliver: Deliver) -> None:
    """Two passes that overlap (two replicas), or a failure recorded between a pass's read and
    its write: the second writer's conditional update matches nothing."""
    lab = new_uscc()
    await deliver(approval_granted(lab, kind="testing_lab"))
    await deliver(
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="action_signal", reference_id="PT-1", detail="z=3.2"),
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    async with runtime.sessions() as session:
        [read_by_pass] = [s for s in await db.standings_clean_since(session, later) if s.organisation == lab]
    restored, _ = read_by_pass.restore_if_clean(later, service.credit_policy(runtime.settings))

    async with runtime.sessions() as session:  # the first pass moves it
        assert await db.restore_standing(session, read_by_pass, restored, later)
        await session.commit()
    async with runtime.sessions() as session:  # a second pass, on the same read, moves nothing
        assert not await db.restore_standing(session, read_by_pass, restored, later)
    await deliver(
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="action_signal", reference_id="PT-2", detail="z=4"),
    )
    async with runtime.sessions() as session:  # a failure recorded since: the stale step is refused too
        failed_since = await db.listed_standing_for_update(session, lab, later)
        assert not await db.restore_standing(session, restored, read_by_pass, later)
    assert failed_since.credit_class.value == "B"
    assert await credit_class(runtime, lab) == "B"


async def test_the_restoration_job_reads_the_runtimes_clock(runtime: ServiceRuntime, deliver: Deliver) -> None:
    clock = FixedClock(instant=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    runtime.clock = clock
    lab = new_uscc()
    await deliver(approval_granted(lab, kind="testing_lab"))
    await deliver(
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="action_signal", reference_id="PT-1", detail="z=3.2"),
    )
    runtime.clock = clock.later(days=364)
    assert await scheduler.restore_credit(runtime) == 0
    runtime.clock = clock.later(days=366)
    assert await scheduler.restore_credit(runtime) == 1
    assert await credit_class(runtime, lab) == "A"
