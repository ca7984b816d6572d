"""The five cross-service flows of DESIGN.md, end to end: four service processes, the real
broker, HTTP only.

Each test starts its chain with one request carrying its own X-Correlation-ID, then checks
the final state in every service concerned and the causal chain on the streams: every
resulting event carries that correlation id, and as causation id the event before it (the
request itself for the first link). Each event is also checked to be there exactly once
(distinct ce_id), after a moment of further reading.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from conformity_shared.auth import Role
from conformity_shared.clock import Clock
from conformity_devstack.campaigns import CampaignWalk
from conformity_devstack.factories import (
    blind_sample,
    certificate_request,
    proficiency_round,
    spot_check_result,
)
from conformity_devstack.testing import eventually, token

from certificates import db as certificates_db, loader

SPOT_CHECK_FAILED = "supervision.spot_check_failed.v1"
RECTIFICATION_VERIFIED = "supervision.rectification_verified.v1"
CREDIT_CHANGED = "supervision.credit_class_changed.v1"
SUSPENDED = "certificate.suspended.v1"
REINSTATED = "certificate.reinstated.v1"
WITHDRAWN = "certificate.withdrawn.v1"
EXPIRED = "certificate.expired.v1"
BREACHED = "approval.commitment_breached.v1"
REVOKED = "approval.revoked.v1"
APPROVAL_SUSPENDED = "approval.suspended.v1"
LAB_FAILED = "proficiency.lab_failed.v1"
SUSPENSION_REQUIRED = "proficiency.lab_field_suspension_required.v1"


def chain_id(flow: str) -> str:
    return f"e2e-{flow}-{uuid.uuid4()}"


async def failed_spot_check(world, holder: str, failing: list[str], passing: list[str], correlation_id: str) -> dict:  # noqa: ANN001
    """The regulator orders a product spot check of the holder; the inspector records failed samples."""
    [inspector, co_inspector] = await world.inspectors(2)  # at least two, as a draw assigns
    inspection = await world.order_inspection(holder, "product_spot_check", [inspector, co_inspector])
    result = spot_check_result(failing, passing, findings="samples overheat in the temperature-rise test",
                               finding="overheats (GB 4706.19 clause 11)")
    recorded = await world.record(inspection["id"], inspector, result, correlation_id)
    assert recorded["verdict"] == "fail"
    return recorded


# --- flow 1 ----------------------------------------------------------------------------------------


async def test_flow_1_failed_spot_check_suspends_the_named_certificates(world, observer, figures, request) -> None:
    body = await world.approved_body()
    holder = world.new_uscc()
    failing, passing = await world.issue(body, holder), await world.issue(body, holder)
    chain = chain_id("flow1")

    inspection = await failed_spot_check(world, holder, [failing], [passing], chain)

    # certificates: the named certificate is suspended, the other one stays valid.
    suspended = await world.status_becomes(failing, "suspended")
    assert suspended["suspension"]["reason"] == "spot_check_failed"
    assert (await world.public(passing))["status"] == "valid"

    spot_check = await observer.one(SPOT_CHECK_FAILED, inspection["id"])
    suspension = await observer.one(SUSPENDED, failing)
    credit = await observer.one(CREDIT_CHANGED, holder)
    observer.caused(spot_check, chain, chain)  # the first link: caused by the request itself
    observer.caused(suspension, chain, spot_check)
    observer.caused(credit, chain, chain)
    assert spot_check.json()["certificate_numbers"] == [failing]
    assert suspension.json()["reason"] == "spot_check_failed"
    assert not observer.of(SUSPENDED, passing)

    history = (await world.certificate(failing))["history"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "valid"), ("valid", "suspended")]
    assert history[-1]["cause_event_id"] == spot_check.id

    # supervision: the result is public, the holder dropped to class B, its directory follows the certificates.
    public = (await world.supervision.get("/public/inspections", params={"organisation": holder})).json()["items"]
    assert [(p["inspection_id"], p["verdict"]) for p in public] == [(inspection["id"], "fail")]
    target = await world.credit_becomes(holder, "B")
    assert [(h["previous"], h["current"]) for h in target["credit_history"]] == [("A", "B")]
    await world.directory_view(inspection["id"], **{failing: "suspended", passing: "valid"})

    # approval: the issuing body is untouched (a product failed, not the body).
    assert (await world.approval_of(body))["status"] == "active"
    figures.record(request.node.name, events_checked=3)


# --- flow 2 ----------------------------------------------------------------------------------------


async def test_flow_2_verified_rectification_reinstates_exactly_those_certificates(world, observer, figures, request) -> None:
    body = await world.approved_body()
    holder = world.new_uscc()
    first, second, third = [await world.issue(body, holder) for _ in range(3)]
    spot_check = await failed_spot_check(world, holder, [first, second], [third], chain_id("flow2-spot-check"))
    await world.status_becomes(second, "suspended")
    # The body suspends the third itself for another cause: a rectification does not lift that.
    misuse = await world.certificates.post(
        f"/certificates/{third}/suspend", headers=body.headers, json={"reason": "misuse", "note": "mark on other models"}
    )
    assert misuse.status_code == 200, misuse.text

    [reinspector, co_inspector] = await world.inspectors(2)
    re_inspection = await world.order_inspection(
        holder, "re_inspection", [reinspector, co_inspector], spot_check_id=spot_check["id"]
    )
    assert sorted(re_inspection["certificates_to_verify"]) == sorted([first, second])
    chain = chain_id("flow2")
    await world.record(re_inspection["id"], reinspector, {"verdict": "pass", "findings": "corrective actions verified"}, chain)

    for number in (first, second):
        reinstated = await world.status_becomes(number, "valid")
        assert reinstated["suspension"] is None
    assert (await world.public(third))["status"] == "suspended"

    verified = await observer.one(RECTIFICATION_VERIFIED, re_inspection["id"])
    observer.caused(verified, chain, chain)
    assert sorted(verified.json()["certificate_numbers"]) == sorted([first, second])
    for number in (first, second):
        observer.caused(await observer.one(REINSTATED, number), chain, verified)
        history = (await world.certificate(number))["history"]
        assert [h["to"] for h in history] == ["valid", "suspended", "valid"]
        assert history[-1]["cause_event_id"] == verified.id
    assert not observer.of(REINSTATED, third)

    await world.directory_view(re_inspection["id"], **{first: "valid", second: "valid", third: "suspended"})
    assert (await world.approval_of(body))["status"] == "active"
    figures.record(request.node.name, events_checked=3)


# --- flow 3 ----------------------------------------------------------------------------------------


async def drawn(world, ratios: dict[str, str]) -> dict[str, Any]:  # noqa: ANN001
    """A campaign over the certification bodies walked as its parties would (commit, freeze, reveal,
    draw once the beacon is due): its published result, with no target when the freeze finds
    nothing to draw (refused, 422)."""
    walk = CampaignWalk(world.supervision, world.regulator)
    frozen = await walk.frozen(name="random inspection of certification bodies", target_kinds=["certification_body"],
                               ratios=ratios)
    if frozen.status_code == 422 and frozen.json()["failed_rules"][0]["rule"] == "campaign_draws_something":
        return {"targets": []}
    assert frozen.status_code == 200, frozen.text
    await walk.reveal_all(frozen.json())
    answer = await walk.draw(frozen.json())
    assert answer.status_code == 200, answer.text
    published = await world.supervision.get(f"/public/campaigns/{frozen.json()['id']}/draw")
    assert published.status_code == 200, published.text
    return published.json()["result"]


async def test_flow_3_breached_commitment_revokes_suspends_every_valid_certificate_and_samples_the_body(
    world, observer, figures, request
) -> None:
    body = await world.approved_body()
    holders = [world.new_uscc(), world.new_uscc()]
    valid = [await world.issue(body, holders[i % 2]) for i in range(4)]
    on_hold = await world.issue(body, holders[0])
    held = await world.certificates.post(f"/certificates/{on_hold}/suspend", headers=body.headers, json={"reason": "misuse"})
    assert held.status_code == 200, held.text
    inspectors = await world.inspectors(3)
    await world.credit_becomes(body.uscc, "A")  # the directory knows the body (approval.granted.v1)
    # Lower credit, higher ratio; class A is not sampled at all in these campaigns.
    ratios = {"A": "0", "B": "0.2", "C": "0.6", "D": "1"}
    before = await drawn(world, ratios)
    assert body.uscc not in {t["id"] for t in before["targets"]}

    assigned = await world.approval.post(
        f"/verifications/{body.verification_id}/assign", headers=world.regulator, json={"inspector_id": inspectors[0]}
    )
    assert assigned.status_code == 200, assigned.text
    chain = chain_id("flow3")
    recorded = await world.approval.post(
        f"/verifications/{body.verification_id}/result", headers=world.as_inspector(inspectors[0], chain),
        json={"outcome": "breached", "findings": "4 qualified auditors on the payroll, 12 declared"},
    )
    assert recorded.status_code == 200, recorded.text

    # certificates: every valid certificate suspended; the one already suspended keeps its own cause.
    for number in valid:
        answer = await world.status_becomes(number, "suspended")
        assert answer["suspension"]["reason"] == "issuing_body_revoked"
    assert (await world.public(on_hold))["suspension"]["reason"] == "misuse"

    breach = await observer.one(BREACHED, body.approval_id)
    revocation = await observer.one(REVOKED, body.approval_id)
    observer.caused(breach, chain, chain)
    observer.caused(revocation, chain, chain)
    for number in valid:
        observer.caused(await observer.one(SUSPENDED, number), chain, revocation)
    assert len(observer.of(SUSPENDED, on_hold)) == 1  # only its own earlier suspension
    credit = await observer.one(CREDIT_CHANGED, body.uscc)
    observer.caused(credit, chain, breach)
    assert (credit.json()["previous"], credit.json()["current"]) == ("A", "D")

    # approval: revoked, the breach recorded as a credit sanction.
    approval = await world.approval_of(body)
    assert approval["status"] == "revoked"
    assert [v["status"] for v in approval["verifications"]] == ["breached"]
    sanctions = (await world.approval.get("/credit-sanctions", headers=world.regulator,
                                          params={"organisation_uscc": body.uscc})).json()["items"]
    assert len(sanctions) == 1
    # certificates: the revoked body may issue no more.
    refused = await world.certificates.post("/certificates", headers=body.headers, json=certificate_request(holders[0]))
    assert refused.status_code == 422 and refused.json()["failed_rules"][0]["rule"] == "body_revoked", refused.text

    # supervision: class D, and the next campaign draws the body (ratio 1 for D).
    target = await world.credit_becomes(body.uscc, "D")
    assert target["credit_history"][-1]["cause_event_id"] == breach.id
    after = await drawn(world, ratios)
    [entry] = [t for t in after["targets"] if t["id"] == body.uscc]
    assert entry["credit_class"] == "D" and len(entry["inspectors"]) == 2
    figures.record(request.node.name, events_checked=3 + len(valid))


# --- flow 4 ----------------------------------------------------------------------------------------


async def run_round(world, field: str, results: dict[str, float], correlation_id: str) -> dict[str, Any]:  # noqa: ANN001
    """A short round (reference 10.0 mg/kg, sigma_pt 0.5): create, enrol, each lab submits, close after the deadline."""
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    created = await world.proficiency.post(
        "/rounds", headers=world.regulator, json=proficiency_round(results, deadline, field=field)
    )
    assert created.status_code == 201, created.text
    round_id = created.json()["id"]
    for org, value in results.items():
        submitted = await world.proficiency.post(
            f"/rounds/{round_id}/results", json={"value": value}, headers=token(Role.LAB, org=org)
        )
        assert submitted.status_code == 201, submitted.text
    await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    closed = await world.proficiency.post(
        f"/rounds/{round_id}/close", headers={**world.regulator, "X-Correlation-ID": correlation_id}
    )
    assert closed.status_code == 200, closed.text
    return closed.json()


async def test_flow_4_lab_failing_twice_loses_the_field_and_credit(world, observer, figures, request) -> None:
    lab = await world.approved("testing_lab", ["TL-ELEC", "TL-EMC"])
    others = [world.new_uscc() for _ in range(4)]
    await world.credit_becomes(lab.uscc, "A")
    first_chain, chain = chain_id("flow4-round1"), chain_id("flow4")

    await run_round(world, "TL-EMC", {**dict(zip(others, [10.1, 9.8, 10.2, 10.0])), lab.uscc: 11.6}, first_chain)
    await world.credit_becomes(lab.uscc, "B")
    assert (await world.approval_of(lab))["suspended_fields"] == []  # one action signal suspends nothing
    await run_round(world, "TL-EMC", {**dict(zip(others, [10.0, 9.9, 10.1, 10.2])), lab.uscc: 8.2}, chain)

    async def field_suspended() -> dict[str, Any] | None:
        approval = await world.approval_of(lab)
        return approval if approval["suspended_fields"] == ["TL-EMC"] else None

    approval = await eventually(field_suspended)
    assert approval["status"] == "active" and approval["approved_fields"] == ["TL-ELEC"]
    await world.credit_becomes(lab.uscc, "C")

    await observer.until(lambda: len(observer.of(LAB_FAILED, lab.uscc)) == 2)
    failures = sorted(observer.of(LAB_FAILED, lab.uscc), key=lambda e: e.headers["ce_time"])
    observer.caused(failures[0], first_chain, first_chain)
    observer.caused(failures[1], chain, chain)
    required = await observer.one(SUSPENSION_REQUIRED, lab.uscc)
    observer.caused(required, chain, chain)
    field_suspension = await observer.one(APPROVAL_SUSPENDED, lab.approval_id)
    observer.caused(field_suspension, chain, required)
    assert field_suspension.json()["fields"] == ["TL-EMC"]
    credits = sorted(observer.of(CREDIT_CHANGED, lab.uscc), key=lambda e: e.headers["ce_time"])
    assert [(c.json()["previous"], c.json()["current"]) for c in credits] == [("A", "B"), ("B", "C")]
    observer.caused(credits[0], first_chain, failures[0])
    observer.caused(credits[1], chain, failures[1])

    history = approval["history"]
    assert history[-1]["cause_event_id"] == required.id and history[-1]["fields"] == ["TL-EMC"]
    outcomes = await world.proficiency.get(f"/labs/{lab.uscc}/outcomes", headers=world.regulator)
    assert outcomes.status_code == 200, outcomes.text
    figures.record(request.node.name, events_checked=7)


async def test_flow_4_failed_blind_sample_suspends_the_field_at_once(world, observer, figures, request) -> None:
    lab = await world.approved("testing_lab", ["TL-ELEC", "TL-CHEM"])
    await world.credit_becomes(lab.uscc, "A")
    registered = await world.proficiency.post(
        "/blind-samples", headers=world.regulator,
        json=blind_sample(lab.uscc, field="TL-CHEM", measurand="formaldehyde in textile", description=None,
                          known_value=75.0, tolerance=5.0),
    )
    assert registered.status_code == 201, registered.text
    chain = chain_id("flow4-blind")
    reported = await world.proficiency.post(
        f"/samples/{registered.json()['id']}/result", json={"value": 88.0},
        headers={**lab.headers, "X-Correlation-ID": chain},
    )
    assert reported.status_code == 200, reported.text

    async def field_suspended() -> dict[str, Any] | None:
        approval = await world.approval_of(lab)
        return approval if approval["suspended_fields"] == ["TL-CHEM"] else None

    await eventually(field_suspended)
    await world.credit_becomes(lab.uscc, "B")
    failure = await observer.one(LAB_FAILED, lab.uscc)
    required = await observer.one(SUSPENSION_REQUIRED, lab.uscc)
    observer.caused(failure, chain, chain)
    observer.caused(required, chain, chain)
    observer.caused(await observer.one(APPROVAL_SUSPENDED, lab.approval_id), chain, required)
    observer.caused(await observer.one(CREDIT_CHANGED, lab.uscc), chain, failure)
    figures.record(request.node.name, events_checked=4)


# --- flow 5 ----------------------------------------------------------------------------------------


async def test_flow_5_passed_suspension_deadline_withdraws_the_certificate(world, observer, figures, request) -> None:
    """The regulator runs the due transitions as of the day after the deadline (the service's
    own scheduler does the same every interval, as of today: see the next test)."""
    body = await world.approved_body()
    holder = world.new_uscc()
    number = await world.issue(body, holder)
    suspended = await world.certificates.post(
        f"/certificates/{number}/suspend", headers=body.headers, json={"reason": "surveillance_overdue"}
    )
    assert suspended.status_code == 200, suspended.text
    deadline = dt.date.fromisoformat(suspended.json()["suspension"]["until"])
    chain = chain_id("flow5")

    answer = await world.certificates.post(
        "/certificates/due-transitions", params={"as_of": (deadline + dt.timedelta(days=1)).isoformat()},
        headers={**world.regulator, "X-Correlation-ID": chain},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["withdrawn"] >= 1

    withdrawn = await world.public(number)
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["last_change"]["reason"] == f"suspension deadline {deadline} passed without reinstatement"
    observer.caused(await observer.one(WITHDRAWN, number), chain, chain)
    [inspector, co_inspector] = await world.inspectors(2)  # at least two, as a draw assigns
    inspection = await world.order_inspection(holder, "product_spot_check", [inspector, co_inspector])
    await world.directory_view(inspection["id"], **{number: "withdrawn"})
    figures.record(request.node.name, events_checked=1)


async def test_flow_5_the_scheduler_withdraws_on_its_own_when_deadlines_pass(up, world, observer, figures, request) -> None:
    """Certificates suspended long ago (a data set as of 300 days back: the deadlines of its
    suspended certificates have all passed) are withdrawn by the service's own scheduler, with
    no request: each exactly once, each event the start of a chain of its own. Those whose
    validity ended before their deadline expire instead (the earlier date wins)."""
    today = Clock().today()  # the regulator's date, which the service's scheduler goes by
    long_ago = today - dt.timedelta(days=300)
    url = up.databases.url("certificates")
    async with up.databases.engine("certificates") as engine, engine.connect() as conn:
        before = set((await conn.execute(sa.select(certificates_db.bodies.c.uscc))).scalars())
    report = await loader.load(url, 1500, seed=int(uuid.uuid4().int % 10**6), bodies=1, today=long_ago, migrate=False)
    c = certificates_db.certificates
    async with up.databases.engine("certificates") as engine, engine.connect() as conn:
        [body] = set((await conn.execute(sa.select(certificates_db.bodies.c.uscc))).scalars()) - before
        rows = (await conn.execute(sa.select(c.c.number, c.c.status, c.c.suspended_until, c.c.valid_until)
                                   .where(c.c.issuing_body_uscc == body))).all()
    assert len(rows) == report.certificates
    due_withdrawal = {r.number for r in rows if r.status == "suspended" and r.suspended_until < today
                      and not r.valid_until < r.suspended_until}
    due_expiry = {r.number for r in rows if r.status in ("valid", "suspended") and r.valid_until < today} - due_withdrawal
    assert len(due_withdrawal) >= 5, "the data set should hold suspended certificates whose deadline passed"

    async def done() -> bool:
        async with up.databases.engine("certificates") as engine, engine.connect() as conn:
            left = await conn.scalar(
                sa.select(sa.func.count()).select_from(c).where(c.c.issuing_body_uscc == body)
                .where(sa.or_(sa.and_(c.c.status == "suspended", c.c.suspended_until < today),
                              sa.and_(c.c.status.in_(["valid", "suspended"]), c.c.valid_until < today)))
            )
        return left == 0

    await eventually(done, timeout=60)
    keys = due_withdrawal | due_expiry
    await observer.until(
        lambda: all(observer.of(WITHDRAWN, n) or observer.of(EXPIRED, n) for n in keys), timeout=60
    )
    await observer.settle(1.0)
    for number in due_withdrawal:
        [event] = observer.of(WITHDRAWN, number)
        assert not observer.of(EXPIRED, number)
        # No request started it: the scheduler's event begins a chain of its own.
        assert event.headers["ce_correlationid"] == event.id and "ce_causationid" not in event.headers
    for number in due_expiry:
        assert len(observer.of(EXPIRED, number)) == 1 and not observer.of(WITHDRAWN, number)
    for number in sorted(due_withdrawal)[:3]:
        assert (await world.public(number))["status"] == "withdrawn"
    figures.record(request.node.name, events_checked=len(keys), withdrawn=len(due_withdrawal), expired=len(due_expiry))
