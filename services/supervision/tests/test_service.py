"""Supervision's use cases against a real SQLite database, with no broker: campaigns and
their verifiable draws, who records drawn inspections, credit classes from consumed events
and their restoration, and what the public sees.

Kafka points at an unreachable address, so a use case that touched the broker would fail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI

from conformity_shared import db as shared_db
from conformity_shared import events, uscc
from conformity_shared.auth import Principal, Role
from conformity_shared.envelope import Envelope, causal_context
from conformity_shared.errors import DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.testing import token

from supervision import db, domain, service, verify_draw
from supervision.commands import CreateCampaign, RecordResult, RegisterInspector
from supervision.domain import draw
from supervision.app import SupervisionSettings, create_app

REGULATOR = Principal("regulator", Role.REGULATOR)
ALL_KINDS = ["certification_body", "enterprise", "testing_lab"]
EVERYONE = {"A": "1", "B": "1", "C": "1", "D": "1"}
ONLY_D = {"A": "0", "B": "0", "C": "0", "D": "1"}


def inspector(inspector_id: str) -> Principal:
    return Principal(inspector_id, Role.INSPECTOR, inspector_id=inspector_id)


def new_uscc() -> str:
    return uscc.make(random.Random())


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = create_app(SupervisionSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", log_json=False))
    runtime: ServiceRuntime = app.state.runtime
    await shared_db.migrate("supervision:migrations", runtime.settings.resolved_database_url())
    yield app
    await runtime.engine.dispose()


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime:
    return app.state.runtime


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The routes without the lifespan (no broker): the database is migrated by `app`."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://supervision") as client:
        yield client


# --- helpers: the directories, as the events and the regulator fill them -----------------------


def record(event: events.Event, envelope: Envelope | None = None, offset: int = 0) -> ConsumerRecord:
    """A Kafka record as the consumer receives it (CloudEvents binary mode)."""
    envelope = envelope or Envelope.for_event(event, "/tests")
    value = event.model_dump_json().encode()
    return ConsumerRecord(
        event.topic, 0, offset, 0, 0, envelope.subject.encode(), value, None, len(envelope.subject), len(value),
        envelope.headers(),
    )


async def deliver(rt: ServiceRuntime, event: events.Event, envelope: Envelope | None = None) -> str:
    assert rt.consumer is not None
    return await rt.consumer.handle(record(event, envelope))


def granted(org: str, kind: str = "certification_body", name: str = "Fujian Certification Co.") -> events.ApprovalGrantedV1:
    return events.ApprovalGrantedV1(
        approval_id=str(uuid.uuid4()), organisation_uscc=org, kind=kind, organisation_name=name,
        fields=["MS-QMS"], path="commitment", granted_at=dt.datetime.now(dt.UTC),
    )


def issued(holder: str, body: str, number: str | None = None) -> events.CertificateIssuedV1:
    return events.CertificateIssuedV1(
        certificate_number=number or f"CN-{uuid.uuid4().hex[:10].upper()}", issuing_body_uscc=body,
        holder_uscc=holder, holder_name="Beijing Kettle Works", scheme="CCC", field="CCC-07",
        product="electric kettles", standard="GB 4706.19-2008", valid_from=dt.date(2024, 1, 1),
        valid_until=dt.date(2029, 1, 1),
    )


async def directory(rt: ServiceRuntime, bodies: int = 2, labs: int = 2, enterprises: int = 3) -> dict[str, list[str]]:
    """Targets enter the directory from approval.granted and certificate.issued events."""
    made: dict[str, list[str]] = {"certification_body": [], "testing_lab": [], "enterprise": []}
    for _ in range(bodies):
        org = new_uscc()
        assert await deliver(rt, granted(org)) == "handled"
        made["certification_body"].append(org)
    for _ in range(labs):
        org = new_uscc()
        assert await deliver(rt, granted(org, "testing_lab", "Beijing Testing Lab")) == "handled"
        made["testing_lab"].append(org)
    body = made["certification_body"][0] if made["certification_body"] else new_uscc()
    for _ in range(enterprises):
        holder = new_uscc()
        assert await deliver(rt, issued(holder, body)) == "handled"
        made["enterprise"].append(holder)
    return made


async def register_inspectors(rt: ServiceRuntime, count: int, organisation: str | None = None) -> list[str]:
    ids = []
    for _ in range(count):
        inspector_id = f"insp-{uuid.uuid4().hex[:8]}"
        await service.register_inspector(
            rt, REGULATOR,
            RegisterInspector(id=inspector_id, name="Zhang San", organisation=organisation or new_uscc(), region="110000",
                              active=True),
        )
        ids.append(inspector_id)
    return ids


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "2024 H1 random inspections", "target_kinds": ALL_KINDS, "ratios": EVERYONE,
        "inspectors_per_target": 2, "seed": "lottery 2024-05-01: 03 17 22 28 31 + 09",
    }
    return body | overrides


async def drawn_campaign(rt: ServiceRuntime, **overrides: Any) -> dict[str, Any]:
    created = await service.create_campaign(rt, REGULATOR, CreateCampaign(**campaign_body(**overrides)))
    return await service.draw_campaign(rt, REGULATOR, created["id"])


async def outbox(rt: ServiceRuntime) -> list[dict[str, Any]]:
    async with rt.sessions() as session:
        rows = (await session.execute(sa.select(db.outbox).order_by(db.outbox.c.seq))).all()
    return [
        {"type": r.event_type, "key": r.key, "topic": r.topic, "headers": dict(r.headers), "body": json.loads(r.payload)}
        for r in rows
    ]


async def campaign_inspections(rt: ServiceRuntime, campaign_id: str) -> list[dict[str, Any]]:
    return (await service.list_inspections(rt, REGULATOR, campaign_id, None, 1000, 0))["items"]


async def credit_class(rt: ServiceRuntime, org: str) -> str:
    return (await service.get_target(rt, org))["credit_class"]


async def set_credit_class(rt: ServiceRuntime, org: str, credit_class: str) -> None:
    async with rt.sessions() as session:
        await session.execute(sa.update(db.targets).where(db.targets.c.uscc == org).values(credit_class=credit_class))
        await session.commit()


# --- campaigns: creating and drawing ------------------------------------------------------------


async def test_campaign_draw_opens_one_inspection_per_drawn_target_with_its_inspectors(runtime: ServiceRuntime) -> None:
    made = await directory(runtime)
    await register_inspectors(runtime, 5)

    campaign = await drawn_campaign(runtime)

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
    runtime: ServiceRuntime,
) -> None:
    await directory(runtime, bodies=3, labs=1, enterprises=6)
    await register_inspectors(runtime, 4)
    campaign = await drawn_campaign(runtime, ratios={"A": "0.5", "B": "0.2", "C": "0.6", "D": "1"})

    snapshot_bytes, digest = await service.published_snapshot(runtime, campaign["id"])
    published = await service.published_draw(runtime, campaign["id"])

    assert digest == hashlib.sha256(snapshot_bytes).hexdigest() == campaign["snapshot_hash"]
    assert published["snapshot_hash"] == digest == published["result"]["snapshot_hash"]
    assert published["seed"] == campaign_body()["seed"] == published["result"]["seed"]
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
    runtime: ServiceRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = await directory(runtime)
    await register_inspectors(runtime, 4)
    campaign = await drawn_campaign(runtime, ratios={"A": "0.5", "B": "1", "C": "1", "D": "1"})
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


async def test_a_drawn_campaign_is_never_redrawn(runtime: ServiceRuntime) -> None:
    await directory(runtime)
    await register_inspectors(runtime, 3)
    campaign = await drawn_campaign(runtime)

    with pytest.raises(domain.CampaignAlreadyDrawn) as refused:
        await service.draw_campaign(runtime, REGULATOR, campaign["id"])
    assert refused.value.status_code == 409
    assert len(await campaign_inspections(runtime, campaign["id"])) == campaign["drawn"]


async def test_too_few_inspectors_refuses_the_whole_draw_listing_the_shortfalls(runtime: ServiceRuntime) -> None:
    made = await directory(runtime, bodies=1, labs=0, enterprises=1)
    body = made["certification_body"][0]
    await register_inspectors(runtime, 1)
    await register_inspectors(runtime, 1, organisation=body)  # works for the body: a conflict of interest
    created = await service.create_campaign(runtime, REGULATOR, CreateCampaign(**campaign_body()))

    with pytest.raises(domain.DrawRefused) as refused:
        await service.draw_campaign(runtime, REGULATOR, created["id"])

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

    await register_inspectors(runtime, 2)
    assert (await service.draw_campaign(runtime, REGULATOR, created["id"]))["status"] == "drawn"


async def test_campaign_parameters_outside_the_rules_are_refused_naming_the_field(runtime: ServiceRuntime) -> None:
    cases = [
        ({"inspectors_per_target": 1}, "inspectors_per_target"),
        ({"ratios": {"A": "1.5", "B": "0", "C": "0", "D": "1"}}, "ratios"),
        ({"ratios": {"A": "0.05", "B": "0.2", "C": "0.6"}}, "ratios"),
        ({"target_kinds": []}, "kinds"),
        ({"seed": "   "}, "seed"),
    ]
    for change, field in cases:
        with pytest.raises(DomainError) as refused:
            # Built without the HTTP validation, so that the use case's own rules answer.
            await service.create_campaign(runtime, REGULATOR, CreateCampaign.model_construct(**campaign_body(**change)))
        assert (refused.value.status_code, refused.value.field) == (422, field), change


async def test_the_next_campaign_excludes_the_inspectors_who_inspected_a_target_in_the_previous_one(
    runtime: ServiceRuntime,
) -> None:
    made = await directory(runtime, bodies=1, labs=0, enterprises=0)
    body = made["certification_body"][0]
    await register_inspectors(runtime, 4)
    first = await drawn_campaign(runtime, seed="first")
    second = await drawn_campaign(runtime, seed="second")

    [before] = await campaign_inspections(runtime, first["id"])
    [after] = await campaign_inspections(runtime, second["id"])
    assert before["target_uscc"] == after["target_uscc"] == body
    assert not set(before["inspectors"]) & set(after["inspectors"])
    snapshot = draw.Snapshot.from_json((await service.published_snapshot(runtime, second["id"]))[0])
    assert snapshot.previous_assignments == {body: tuple(before["inspectors"])}

    # With only those four inspectors, a third campaign must exclude the second's two: still possible.
    third = await drawn_campaign(runtime, seed="third")
    [again] = await campaign_inspections(runtime, third["id"])
    assert set(again["inspectors"]) == set(before["inspectors"])


async def test_a_lowered_credit_class_is_sampled_in_the_next_campaign(runtime: ServiceRuntime) -> None:
    made = await directory(runtime, bodies=2, labs=0, enterprises=0)
    breached, clean = made["certification_body"]
    await register_inspectors(runtime, 3)
    before = await drawn_campaign(runtime, ratios=ONLY_D, seed="before")
    assert before["drawn"] == 0

    breach = events.CommitmentBreachedV1(
        approval_id=str(uuid.uuid4()), organisation_uscc=breached, kind="certification_body",
        verification_id="VER-1", findings="only 4 qualified staff, 12 declared",
    )
    assert await deliver(runtime, breach) == "handled"

    after = await drawn_campaign(runtime, ratios=ONLY_D, seed="after")
    assert [i["target_uscc"] for i in await campaign_inspections(runtime, after["id"])] == [breached]
    assert clean not in {t["id"] for t in (await service.published_draw(runtime, after["id"]))["result"]["targets"]}


async def test_organisations_listed_only_by_a_failure_are_not_drawn_until_their_kind_is_known(
    runtime: ServiceRuntime,
) -> None:
    lab = new_uscc()
    failure = events.LabFailureV1(
        lab_uscc=lab, field="TL-ELEC", failure="blind_sample_failed", reference_id="BS-1", detail="outside tolerance"
    )
    await deliver(runtime, failure)  # before the lab's own approval.granted
    await register_inspectors(runtime, 2)
    campaign = await drawn_campaign(runtime, seed="unknown kind")
    assert campaign["drawn"] == 0

    await deliver(runtime, granted(lab, "testing_lab"))
    campaign = await drawn_campaign(runtime, seed="known kind")
    assert [t["id"] for t in (await service.published_draw(runtime, campaign["id"]))["result"]["targets"]] == [lab]


# --- drawn inspections are recorded by their assigned inspectors -----------------------------


async def test_only_an_assigned_inspector_records_a_drawn_spot_check_and_its_failure_is_emitted(
    runtime: ServiceRuntime,
) -> None:
    made = await directory(runtime, bodies=1, labs=0, enterprises=1)
    holder = made["enterprise"][0]
    number = "CN-SPOT-0001"
    await deliver(runtime, issued(holder, made["certification_body"][0], number))
    inspectors = await register_inspectors(runtime, 3)
    campaign = await drawn_campaign(runtime, target_kinds=["enterprise"])
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
    emitted = await outbox(runtime)
    spot_check = next(e for e in emitted if e["type"] == "supervision.spot_check_failed.v1")
    assert spot_check["key"] == inspection["id"]
    assert spot_check["body"]["certificate_numbers"] == [number]
    assert spot_check["body"]["holder_uscc"] == holder
    assert spot_check["headers"]["ce_correlationid"] == "corr-spot-check"
    assert await credit_class(runtime, holder) == "B"


async def test_results_of_drawn_inspections_are_public_only_once_recorded(runtime: ServiceRuntime) -> None:
    made = await directory(runtime, bodies=1, labs=0, enterprises=0)
    body = made["certification_body"][0]
    await register_inspectors(runtime, 2)
    campaign = await drawn_campaign(runtime, target_kinds=["certification_body"])
    [inspection] = await campaign_inspections(runtime, campaign["id"])
    assert (await service.published_results(runtime, body, None, None, 100, 0))["items"] == []

    await service.record_result(
        runtime, inspector(inspection["inspectors"][1]),
        RecordResult(inspection_id=inspection["id"], verdict="pass", findings="", samples=[]),
    )
    [public] = (await service.published_results(runtime, body, None, None, 100, 0))["items"]
    assert (public["inspection_id"], public["verdict"], public["target_uscc"]) == (inspection["id"], "pass", body)


# --- credit classes from consumed events --------------------------------------------------------


async def test_a_breached_commitment_lowers_the_body_to_d_with_its_cause_and_emits_the_change(
    runtime: ServiceRuntime,
) -> None:
    body = new_uscc()
    await deliver(runtime, granted(body))
    breach = events.CommitmentBreachedV1(
        approval_id=str(uuid.uuid4()), organisation_uscc=body, kind="certification_body",
        verification_id="VER-2024-0007", findings="premises do not exist",
    )
    envelope = Envelope.for_event(breach, "/conformity/approval")

    assert await deliver(runtime, breach, envelope) == "handled"

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
    runtime: ServiceRuntime,
) -> None:
    lab = new_uscc()
    await deliver(runtime, granted(lab, "testing_lab"))
    first = events.LabFailureV1(lab_uscc=lab, field="TL-ELEC", failure="action_signal", reference_id="PT-1", detail="z=3.4")
    second = events.LabFailureV1(lab_uscc=lab, field="TL-ELEC", failure="action_signal", reference_id="PT-2", detail="z=3.1")
    envelope = Envelope.for_event(first, "/conformity/proficiency")

    assert await deliver(runtime, first, envelope) == "handled"
    assert await deliver(runtime, first, envelope) == "duplicate"
    assert await credit_class(runtime, lab) == "B"
    assert await deliver(runtime, second) == "handled"

    history = (await service.get_target(runtime, lab))["credit_history"]
    assert [(h["previous"], h["current"], h["cause"]) for h in history] == [
        ("A", "B", "lab_failure (TL-ELEC:PT-1)"),
        ("B", "C", "lab_failure (TL-ELEC:PT-2)"),
    ]
    changes = [e for e in await outbox(runtime) if e["type"] == "supervision.credit_class_changed.v1"]
    assert [(e["body"]["previous"], e["body"]["current"]) for e in changes] == [("A", "B"), ("B", "C")]


async def test_credit_is_restored_one_class_per_clean_period_and_each_step_is_emitted(runtime: ServiceRuntime) -> None:
    lab, other = new_uscc(), new_uscc()
    await deliver(runtime, granted(lab, "testing_lab"))
    await deliver(runtime, granted(other, "testing_lab"))
    for reference in ("PT-1", "PT-2"):
        await deliver(
            runtime,
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


async def test_a_failure_restarts_the_clean_period(runtime: ServiceRuntime) -> None:
    lab = new_uscc()
    await deliver(runtime, granted(lab, "testing_lab"))
    await deliver(
        runtime,
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="action_signal", reference_id="PT-1", detail="z=3.2"),
    )
    async with runtime.sessions() as session:  # the failure happened 300 days ago
        await session.execute(
            sa.update(db.targets).where(db.targets.c.uscc == lab)
            .values(clean_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=300))
        )
        await session.commit()
    await deliver(
        runtime,
        events.LabFailureV1(lab_uscc=lab, field="TL-EMC", failure="blind_sample_failed", reference_id="BS-2", detail="out"),
    )
    assert await service.restore_clean_credit(runtime, dt.datetime.now(dt.UTC) + dt.timedelta(days=100)) == 0
    assert await credit_class(runtime, lab) == "C"


# --- over HTTP: authorization, validation answers, the public draw -------------------------------


async def test_an_inspector_cannot_create_or_draw_campaigns(http: httpx.AsyncClient, runtime: ServiceRuntime) -> None:
    as_inspector = token(Role.INSPECTOR, inspector_id="insp-1")
    assert (await http.post("/campaigns", json=campaign_body(), headers=as_inspector)).status_code == 403
    assert (await http.post("/campaigns", json=campaign_body())).status_code == 401
    created = await http.post("/campaigns", json=campaign_body(), headers=token(Role.REGULATOR))
    assert created.status_code == 201, created.text
    assert (await http.post(f"/campaigns/{created.json()['id']}/draw", headers=as_inspector)).status_code == 403


async def test_an_invalid_campaign_is_answered_422_naming_the_field(http: httpx.AsyncClient) -> None:
    regulator = token(Role.REGULATOR)
    answer = await http.post("/campaigns", json=campaign_body(inspectors_per_target=1), headers=regulator)
    assert answer.status_code == 422
    assert answer.json()["field"] == "inspectors_per_target"
    assert "at least 2 inspectors" in answer.json()["detail"]

    answer = await http.post("/campaigns", json=campaign_body(ratios={"A": "2", "B": "0", "C": "0", "D": "1"}), headers=regulator)
    assert (answer.status_code, answer.json()["field"]) == (422, "ratios")

    answer = await http.post("/campaigns", json=campaign_body(target_kinds=["factory"]), headers=regulator)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][:2] == ["body", "target_kinds"]


async def test_a_draw_refused_for_too_few_inspectors_answers_422_with_the_shortfalls(
    http: httpx.AsyncClient, runtime: ServiceRuntime
) -> None:
    await directory(runtime, bodies=1, labs=0, enterprises=0)
    await register_inspectors(runtime, 1)
    regulator = token(Role.REGULATOR)
    created = (await http.post("/campaigns", json=campaign_body(), headers=regulator)).json()

    answer = await http.post(f"/campaigns/{created['id']}/draw", headers=regulator)

    assert answer.status_code == 422
    refused = answer.json()
    assert refused["field"] == "inspectors" and refused["shortfall_count"] == 1
    assert refused["shortfalls"][0]["required"] == 2 and refused["shortfalls"][0]["eligible"] == 1
    assert "too few eligible inspectors" in refused["detail"]


async def test_the_public_draw_and_snapshot_need_no_token_and_redrawing_is_409(
    http: httpx.AsyncClient, runtime: ServiceRuntime
) -> None:
    await directory(runtime)
    await register_inspectors(runtime, 3)
    regulator = token(Role.REGULATOR)
    created = (await http.post("/campaigns", json=campaign_body(), headers=regulator)).json()
    assert (await http.get(f"/public/campaigns/{created['id']}/draw")).status_code == 404  # not drawn yet

    drawn = await http.post(f"/campaigns/{created['id']}/draw", headers=regulator)
    assert drawn.status_code == 200, drawn.text
    assert (await http.post(f"/campaigns/{created['id']}/draw", headers=regulator)).status_code == 409

    published = (await http.get(f"/public/campaigns/{created['id']}/draw")).json()
    snapshot = await http.get(published["snapshot_url"])
    assert snapshot.headers["content-type"] == "application/json"
    assert hashlib.sha256(snapshot.content).hexdigest() == published["snapshot_hash"] == drawn.json()["snapshot_hash"]
    assert published["seed"] == campaign_body()["seed"] and published["algorithm"] == draw.ALGORITHM

    # The CLI's own fetch, served by this app through a synchronous stand-in for urllib.
    pages = {str(http.base_url.join(u)): (await http.get(u)).content
             for u in (f"/public/campaigns/{created['id']}/draw", published["snapshot_url"])}
    fetched = verify_draw.fetch(str(http.base_url), created["id"], get=pages.__getitem__)
    assert verify_draw.check(fetched).ok
    tampered = dataclasses.replace(fetched, snapshot=fetched.snapshot.replace(b'"credit_class":"A"', b'"credit_class":"B"', 1))
    verification = verify_draw.check(tampered)
    assert not verification.ok
    assert any("hash" in d for d in verification.differences)

    listed = (await http.get("/public/campaigns")).json()["items"]
    assert [c["id"] for c in listed] == [created["id"]]
