"""Use cases against a real SQLite database: issuance and its refusals, authorization,
the automatic reactions, time-based transitions, public verification and the bulk loader.

The broker address is unreachable on purpose: these tests must not need Kafka; events
are asserted as rows in the outbox, which is what the relay would publish.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from conformity_shared import db as shared_db, events, uscc
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import Conflict, DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime

from certificates import consumers, db, domain, loader, scheduler, service
from certificates.app import CertificatesSettings, create_app

REGULATOR = Principal("regulator", Role.REGULATOR)
TODAY = dt.datetime.now(dt.UTC).date()


# --- fixtures and helpers --------------------------------------------------------------


def settings_for(data_dir: Path) -> CertificatesSettings:
    return CertificatesSettings(data_dir=data_dir, kafka_bootstrap_servers="127.0.0.1:1", log_json=False)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = settings_for(tmp_path)
    application = create_app(settings)
    await shared_db.migrate("certificates:migrations", settings.resolved_database_url())
    yield application
    await application.state.runtime.engine.dispose()


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime:
    return app.state.runtime


@pytest.fixture
def rng() -> random.Random:
    return random.Random()


def agency(org: str) -> Principal:
    return Principal(org, Role.AGENCY, org=org)


async def deliver(runtime: ServiceRuntime, event: events.Event) -> str:
    """Handle one event as the consumer would: its handler, in a unit of work, caused by it."""
    handler = consumers.handlers(runtime)[type(event)]  # type: ignore[arg-type]
    cause = str(uuid.uuid4())
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = cause
        await handler(uow, event)
        await uow.commit()
    return cause


async def grant(runtime: ServiceRuntime, body: str, fields: list[str], approval_id: str | None = None) -> str:
    approval_id = approval_id or str(uuid.uuid4())
    await deliver(runtime, events.ApprovalGrantedV1(
        approval_id=approval_id, organisation_uscc=body, kind="certification_body",
        organisation_name="Fujian Certification Co.", fields=fields, path="commitment",
        granted_at=dt.datetime.now(dt.UTC),
    ))
    return approval_id


def issue_request(holder: str, **overrides: Any) -> dict[str, Any]:
    return {
        "holder_uscc": holder, "holder_name": "Beijing Kettle Works", "scheme": "management_system",
        "field": "MS-QMS", "product": "Design and manufacture of electric kettles", "standard": "GB/T 19001-2016",
        **overrides,
    }


async def issue(runtime: ServiceRuntime, body: str, holder: str, **overrides: Any) -> dict[str, Any]:
    return await service.issue(runtime, agency(body), issue_request(holder, **overrides))


async def outbox(runtime: ServiceRuntime) -> list[tuple[str, str]]:
    """(event type, key) of every outbox row, in order."""
    async with runtime.sessions() as session:
        rows = await session.execute(sa.select(db.outbox.c.event_type, db.outbox.c.key).order_by(db.outbox.c.seq))
        return [(r.event_type, r.key) for r in rows]


async def public(runtime: ServiceRuntime, number: str) -> dict[str, Any]:
    return await service.verify(runtime, number)


async def history(runtime: ServiceRuntime, number: str) -> list[dict[str, Any]]:
    return (await service.get_certificate(runtime, REGULATOR, number))["history"]


@pytest.fixture
async def body(runtime: ServiceRuntime, rng: random.Random) -> str:
    code = uscc.make(rng)
    await grant(runtime, code, ["MS-QMS", "CCC-07"])
    return code


# --- issuance ---------------------------------------------------------------------------


async def test_issuance_within_scope_gives_a_numbered_valid_certificate_and_its_event(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    holder = uscc.make(rng)
    cert = await issue(runtime, body, holder)
    number = domain.CertificateNumber.parse(cert["number"])
    assert (number.scheme, number.year, number.body_code, number.sequence) == (
        domain.Scheme.MANAGEMENT_SYSTEM, TODAY.year, body[-4:], 1
    )
    assert cert["status"] == "valid"
    assert cert["validity"] == {"from": TODAY.isoformat(),
                                "until": domain.default_valid_until("management_system", TODAY).isoformat()}
    assert [(h["from"], h["to"], h["reason"]) for h in cert["history"]] == [(None, "valid", "issued")]
    assert await outbox(runtime) == [("certificate.issued.v1", cert["number"])]


async def test_ccc_certificate_is_valid_five_years_by_default(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    cert = await issue(runtime, body, uscc.make(rng), scheme="CCC", field="CCC-07",
                       valid_from=dt.date(TODAY.year, 1, 10))
    assert cert["validity"]["until"] == dt.date(TODAY.year + 5, 1, 9).isoformat()
    assert cert["number"].startswith(f"CCC{TODAY.year}{body[-4:]}")


async def test_concurrent_issuance_never_draws_the_same_number(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    issued = await asyncio.gather(*(issue(runtime, body, uscc.make(rng)) for _ in range(12)))
    sequences = sorted(domain.CertificateNumber.parse(c["number"]).sequence for c in issued)
    assert sequences == list(range(1, 13))


@pytest.mark.parametrize(
    ("field", "rule"), [("CCC-08", "outside_scope"), ("MS-EMS", "outside_scope")]
)
async def test_issuance_refused_outside_the_approved_scope(
    runtime: ServiceRuntime, body: str, rng: random.Random, field: str, rule: str
) -> None:
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, body, uscc.make(rng), field=field)
    assert refused.value.rule == rule and refused.value.status_code == 422 and refused.value.field == "field"
    assert await outbox(runtime) == []


async def test_issuance_refused_for_a_body_never_approved(runtime: ServiceRuntime, rng: random.Random) -> None:
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, uscc.make(rng), uscc.make(rng))
    assert refused.value.rule == "not_approved"


async def test_issuance_refused_while_the_body_is_suspended_and_allowed_after_reinstatement(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = uscc.make(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    common = dict(approval_id=approval, organisation_uscc=code, kind="certification_body")
    await deliver(runtime, events.ApprovalSuspendedV1(**common, reason="failed inspection"))
    with pytest.raises(domain.IssuanceRefused, match="suspended") as refused:
        await issue(runtime, code, uscc.make(rng))
    assert refused.value.rule == "body_suspended"
    await deliver(runtime, events.ApprovalReinstatedV1(**common, reason="rectified"))
    assert (await issue(runtime, code, uscc.make(rng)))["status"] == "valid"


async def test_issuance_refused_in_a_suspended_field(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = uscc.make(rng)
    approval = await grant(runtime, code, ["MS-QMS", "MS-EMS"])
    await deliver(runtime, events.ApprovalSuspendedV1(
        approval_id=approval, organisation_uscc=code, kind="certification_body", fields=["MS-EMS"], reason="lab failures"
    ))
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, uscc.make(rng), field="MS-EMS")
    assert refused.value.rule == "field_suspended"
    assert (await issue(runtime, code, uscc.make(rng), field="MS-QMS"))["status"] == "valid"


async def test_issuance_refused_for_a_revoked_body_and_a_later_suspension_does_not_undo_the_revocation(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = uscc.make(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    common = dict(approval_id=approval, organisation_uscc=code, kind="certification_body")
    await deliver(runtime, events.ApprovalRevokedV1(**common, reason="commitment breached"))
    await deliver(runtime, events.ApprovalSuspendedV1(**common, reason="late event"))
    await deliver(runtime, events.ApprovalReinstatedV1(**common, reason="late event"))
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, uscc.make(rng))
    assert refused.value.rule == "body_revoked"


async def test_scope_reduction_refuses_the_removed_field(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = uscc.make(rng)
    approval = await grant(runtime, code, ["MS-QMS", "MS-EMS"])
    await deliver(runtime, events.ApprovalScopeReducedV1(
        approval_id=approval, organisation_uscc=code, kind="certification_body", removed_fields=["MS-EMS"],
        remaining_fields=["MS-QMS"], reason="staff left",
    ))
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, uscc.make(rng), field="MS-EMS")
    assert refused.value.rule == "outside_scope"


async def test_issuance_of_an_already_expired_certificate_is_refused(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    with pytest.raises(DomainError) as refused:
        await issue(runtime, body, uscc.make(rng), valid_from=dt.date(2015, 1, 1))
    assert refused.value.field == "valid_until"


async def test_unknown_scheme_is_refused(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    with pytest.raises(domain.UnknownScheme):
        await issue(runtime, body, uscc.make(rng), scheme="organic")


# --- object-level authorization ---------------------------------------------------------


async def test_a_body_manages_only_the_certificates_it_issued(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    other = uscc.make(rng)
    await grant(runtime, other, ["MS-QMS"])
    number = (await issue(runtime, body, uscc.make(rng)))["number"]
    for action, reason in (("suspend", "misuse"), ("withdraw", "audit failed"), ("reinstate", "ok")):
        with pytest.raises(domain.ActionForbidden) as refused:
            await service.transition(runtime, agency(other), number, action, reason, None)
        assert refused.value.status_code == 403 and refused.value.rule == "not_issuing_body"
    with pytest.raises(domain.ActionForbidden):
        await service.get_certificate(runtime, agency(other), number)
    assert (await public(runtime, number))["status"] == "valid"
    assert [t for t, _ in await outbox(runtime)] == ["certificate.issued.v1"]


async def test_the_issuing_body_and_the_regulator_may_suspend_and_withdraw(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    number = (await issue(runtime, body, uscc.make(rng)))["number"]
    suspended = await service.transition(runtime, agency(body), number, "suspend", "misuse", None, "logo on uncertified models")
    assert suspended["status"] == "suspended" and suspended["history"][-1]["note"] == "logo on uncertified models"
    withdrawn = await service.transition(runtime, REGULATOR, number, "withdraw", "misuse not corrected", None)
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["history"][-1]["actor"] == "regulator:regulator"
    assert [t for t, _ in await outbox(runtime)] == [
        "certificate.issued.v1", "certificate.suspended.v1", "certificate.withdrawn.v1"
    ]


async def test_holder_requested_cancellation_only_by_the_issuing_body_with_the_holder_reference(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    number = (await issue(runtime, body, uscc.make(rng)))["number"]
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.transition(runtime, REGULATOR, number, "cancel", "holder stopped production", "letter 12")
    assert refused.value.rule == "holder_request_through_body"
    with pytest.raises(DomainError) as missing:
        await service.transition(runtime, agency(body), number, "cancel", "holder stopped production", None)
    assert missing.value.field == "holder_reference"
    cancelled = await service.transition(runtime, agency(body), number, "cancel", "holder stopped production", "letter 12")
    assert cancelled["status"] == "cancelled"
    async with runtime.sessions() as session:
        request = (await session.execute(sa.select(db.holder_requests))).one()
    assert (request.certificate_number, request.action, request.requested_by_body, request.holder_reference) == (
        number, "cancel", body, "letter 12"
    )


async def test_suspension_at_the_holders_request_needs_the_reference(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    number = (await issue(runtime, body, uscc.make(rng)))["number"]
    with pytest.raises(DomainError) as missing:
        await service.transition(runtime, agency(body), number, "suspend", "holder_request", " ")
    assert missing.value.field == "holder_reference"
    with pytest.raises(domain.ActionForbidden):
        await service.transition(runtime, REGULATOR, number, "suspend", "holder_request", "letter 7")
    answer = await service.transition(runtime, agency(body), number, "suspend", "holder_request", "letter 7")
    assert answer["suspension"]["reason"] == "holder_request"


async def test_imposed_suspension_reasons_cannot_be_given_by_hand(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    number = (await issue(runtime, body, uscc.make(rng)))["number"]
    for reason in ("spot_check_failed", "issuing_body_revoked"):
        with pytest.raises(DomainError) as refused:
            await service.transition(runtime, REGULATOR, number, "suspend", reason, None)
        assert refused.value.field == "reason"


async def test_the_body_does_not_lift_a_spot_check_suspension_but_the_regulator_may(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    holder = uscc.make(rng)
    number = (await issue(runtime, body, holder))["number"]
    await deliver(runtime, events.SpotCheckFailedV1(
        inspection_id="insp-1", holder_uscc=holder, certificate_numbers=[number], findings="overheats"
    ))
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.transition(runtime, agency(body), number, "reinstate", "we checked", None)
    assert refused.value.rule == "imposed_suspension"
    assert (await service.transition(runtime, REGULATOR, number, "reinstate", "appeal upheld", None))["status"] == "valid"


async def test_a_suspended_body_may_not_reinstate_its_certificates(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = uscc.make(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    number = (await issue(runtime, code, uscc.make(rng)))["number"]
    await service.transition(runtime, agency(code), number, "suspend", "surveillance_overdue", None)
    await deliver(runtime, events.ApprovalSuspendedV1(
        approval_id=approval, organisation_uscc=code, kind="certification_body", reason="failed inspection"
    ))
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.transition(runtime, agency(code), number, "reinstate", "audit done", None)
    assert refused.value.rule == "body_suspended"


async def test_illegal_transitions_answer_409_with_the_rule(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    number = (await issue(runtime, body, uscc.make(rng)))["number"]
    await service.transition(runtime, REGULATOR, number, "withdraw", "fraud", None)
    with pytest.raises(Conflict, match="withdrawn certificate is final") as refused:
        await service.transition(runtime, REGULATOR, number, "reinstate", "mistake", None)
    assert refused.value.status_code == 409
    with pytest.raises(NotFound):
        await service.transition(runtime, REGULATOR, "MSC2026AAAA00000001", "withdraw", "x", None)


# --- automatic reactions ----------------------------------------------------------------


async def test_failed_spot_check_suspends_the_named_valid_certificates_of_the_holder_for_six_months(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    holder, stranger = uscc.make(rng), uscc.make(rng)
    named = [(await issue(runtime, body, holder))["number"] for _ in range(2)]
    untouched = (await issue(runtime, body, holder))["number"]
    of_another_holder = (await issue(runtime, body, stranger))["number"]
    cause = await deliver(runtime, events.SpotCheckFailedV1(
        inspection_id="insp-9", holder_uscc=holder, certificate_numbers=[*named, of_another_holder, "CCC2026XXXX00000001"],
        findings="overheats",
    ))
    for number in named:
        answer = await public(runtime, number)
        assert answer["status"] == "suspended"
        assert answer["suspension"] == {"reason": "spot_check_failed",
                                        "until": domain.add_months(TODAY, 6).isoformat()}
        assert (await history(runtime, number))[-1]["cause_event_id"] == cause
    assert (await public(runtime, untouched))["status"] == "valid"
    assert (await public(runtime, of_another_holder))["status"] == "valid"
    assert sorted(k for t, k in await outbox(runtime) if t == "certificate.suspended.v1") == sorted(named)


async def test_rectification_reinstates_exactly_the_certificates_that_spot_check_suspended(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    holder = uscc.make(rng)
    a, b, c = [(await issue(runtime, body, holder))["number"] for _ in range(3)]
    await deliver(runtime, events.SpotCheckFailedV1(inspection_id="sc-1", holder_uscc=holder, certificate_numbers=[a, b],
                                                    findings="x"))
    await deliver(runtime, events.SpotCheckFailedV1(inspection_id="sc-2", holder_uscc=holder, certificate_numbers=[c],
                                                    findings="y"))
    await deliver(runtime, events.RectificationVerifiedV1(
        inspection_id="re-1", spot_check_id="sc-1", holder_uscc=holder, certificate_numbers=[a, b, c]
    ))
    assert [(await public(runtime, n))["status"] for n in (a, b, c)] == ["valid", "valid", "suspended"]
    assert sorted(k for t, k in await outbox(runtime) if t == "certificate.reinstated.v1") == sorted([a, b])


async def test_revoked_approval_suspends_every_valid_certificate_of_the_body_one_event_each(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = uscc.make(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    valid = [(await issue(runtime, code, uscc.make(rng)))["number"] for _ in range(5)]
    withdrawn = valid.pop()
    await service.transition(runtime, REGULATOR, withdrawn, "withdraw", "fraud", None)
    other_body = uscc.make(rng)
    await grant(runtime, other_body, ["MS-QMS"])
    elsewhere = (await issue(runtime, other_body, uscc.make(rng)))["number"]
    before = len(await outbox(runtime))

    cause = await deliver(runtime, events.ApprovalRevokedV1(
        approval_id=approval, organisation_uscc=code, kind="certification_body", reason="commitment breached"
    ))
    new = (await outbox(runtime))[before:]
    assert new == [("certificate.suspended.v1", n) for n in sorted(valid)]
    for number in valid:
        answer = await public(runtime, number)
        assert answer["suspension"]["reason"] == "issuing_body_revoked"
        assert answer["last_change"]["reason"] == "issuing_body_revoked"
        entry = (await history(runtime, number))[-1]
        assert (entry["from"], entry["to"], entry["reason"], entry["cause_event_id"]) == (
            "valid", "suspended", "issuing_body_revoked", cause
        )
    assert (await public(runtime, withdrawn))["status"] == "withdrawn"
    assert (await public(runtime, elsewhere))["status"] == "valid"

    # A second revocation event (another id) finds nothing valid any more.
    await deliver(runtime, events.ApprovalRevokedV1(
        approval_id=approval, organisation_uscc=code, kind="certification_body", reason="again"
    ))
    assert len(await outbox(runtime)) == before + len(valid)


async def test_bulk_suspension_of_a_large_body_keeps_history_and_one_event_per_certificate(
    runtime: ServiceRuntime, tmp_path: Path
) -> None:
    await loader.load(runtime.settings.resolved_database_url(), 3000, seed=11, bodies=2, enterprises=200, today=TODAY,
                      migrate=False)
    async with runtime.sessions() as session:
        code, approval = (await session.execute(sa.select(db.bodies.c.uscc, db.bodies.c.approval_id).limit(1))).one()
        valid = set((await session.scalars(
            sa.select(db.certificates.c.number).where(db.certificates.c.issuing_body_uscc == code,
                                                      db.certificates.c.status == "valid")
        )).all())
        history_before = await session.scalar(sa.select(sa.func.count()).select_from(db.history))
    assert len(valid) > 1000
    await deliver(runtime, events.ApprovalRevokedV1(
        approval_id=approval, organisation_uscc=code, kind="certification_body", reason="revoked"
    ))
    emitted = await outbox(runtime)
    assert [k for _, k in emitted] == sorted(valid) and {t for t, _ in emitted} == {"certificate.suspended.v1"}
    async with runtime.sessions() as session:
        history_after = await session.scalar(sa.select(sa.func.count()).select_from(db.history))
        still_valid = await session.scalar(sa.select(sa.func.count()).select_from(db.certificates).where(
            db.certificates.c.issuing_body_uscc == code, db.certificates.c.status == "valid"))
    assert history_after - history_before == len(valid) and still_valid == 0


# --- time-based transitions -------------------------------------------------------------


async def test_passed_suspension_deadline_withdraws_once(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    holder = uscc.make(rng)
    number = (await issue(runtime, body, holder))["number"]
    await deliver(runtime, events.SpotCheckFailedV1(inspection_id="sc", holder_uscc=holder, certificate_numbers=[number],
                                                    findings="x"))
    deadline = domain.add_months(TODAY, 6)
    assert (await scheduler.run_due_transitions(runtime, today=deadline))["withdrawn"] == 0  # the deadline day itself
    counts = await scheduler.run_due_transitions(runtime, today=deadline + dt.timedelta(days=1))
    assert counts["withdrawn"] == 1
    answer = await public(runtime, number)
    assert answer["status"] == "withdrawn"
    assert answer["last_change"]["reason"] == f"suspension deadline {deadline} passed without reinstatement"
    assert [h["actor"] for h in await history(runtime, number)][-1] == domain.AUTOMATIC
    events_before = await outbox(runtime)
    again = await scheduler.run_due_transitions(runtime, today=deadline + dt.timedelta(days=1))
    assert again == {"withdrawn": 0, "expired": 0, "skipped": 0}
    assert await outbox(runtime) == events_before
    assert [t for t, _ in events_before][-1] == "certificate.withdrawn.v1"


async def test_passed_validity_expires_once(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    cert = await issue(runtime, body, uscc.make(rng))
    until = dt.date.fromisoformat(cert["validity"]["until"])
    assert (await scheduler.run_due_transitions(runtime, today=until))["expired"] == 0
    assert (await scheduler.run_due_transitions(runtime, today=until + dt.timedelta(days=1)))["expired"] == 1
    assert (await public(runtime, cert["number"]))["status"] == "expired"
    assert (await scheduler.run_due_transitions(runtime, today=until + dt.timedelta(days=2)))["expired"] == 0
    assert [t for t, _ in await outbox(runtime)] == ["certificate.issued.v1", "certificate.expired.v1"]


async def test_when_validity_ends_before_the_suspension_deadline_the_certificate_expires(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    until = TODAY + dt.timedelta(days=30)
    number = (await issue(runtime, body, uscc.make(rng), valid_until=until))["number"]
    await service.transition(runtime, agency(body), number, "suspend", "misuse", None)
    counts = await scheduler.run_due_transitions(runtime, today=domain.add_months(TODAY, 7))
    assert counts == {"withdrawn": 0, "expired": 1, "skipped": 0}
    assert (await public(runtime, number))["status"] == "expired"


async def test_two_instances_running_the_scheduler_at_once_transition_each_certificate_once(
    runtime: ServiceRuntime, tmp_path: Path, body: str, rng: random.Random
) -> None:
    numbers = [(await issue(runtime, body, uscc.make(rng)))["number"] for _ in range(30)]
    second = create_app(settings_for(tmp_path)).state.runtime
    try:
        later = dt.date.fromisoformat((await public(runtime, numbers[0]))["validity"]["until"]) + dt.timedelta(days=1)
        results = await asyncio.gather(
            scheduler.run_due_transitions(runtime, today=later), scheduler.run_due_transitions(second, today=later)
        )
    finally:
        await second.engine.dispose()
    assert sum(r["expired"] for r in results) == 30
    expired = [k for t, k in await outbox(runtime) if t == "certificate.expired.v1"]
    assert sorted(expired) == sorted(numbers)


async def test_only_one_instance_holds_the_scheduler_lease(
    runtime: ServiceRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler, "HOLDER", "instance-a")
    assert await scheduler._take_lease(runtime, "due-transitions", 60)
    monkeypatch.setattr(scheduler, "HOLDER", "instance-b")
    assert not await scheduler._take_lease(runtime, "due-transitions", 60)
    monkeypatch.setattr(scheduler, "HOLDER", "instance-a")
    assert await scheduler._take_lease(runtime, "due-transitions", 60)  # renewal by the holder


# --- public verification ----------------------------------------------------------------


async def test_public_verification_of_one_number(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    holder = uscc.make(rng)
    number = (await issue(runtime, body, holder))["number"]
    answer = await service.verify(runtime, f" {number.lower()} ")
    assert answer["number"] == number and answer["status"] == "valid"
    assert answer["holder"] == {"uscc": holder, "name": "Beijing Kettle Works"}
    assert answer["scope"]["field"] == "MS-QMS" and answer["last_change"]["reason"] == "issued"
    assert "history" not in answer
    with pytest.raises(NotFound):
        await service.verify(runtime, "MSC2026AAAA00000001")


async def test_batch_verification_answers_unknown_numbers_as_unknown(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    known = [(await issue(runtime, body, uscc.make(rng)))["number"] for _ in range(3)]
    asked = [known[0], "MSC2026AAAA00000001", known[1], "not a number", known[2], known[0]]
    answer = await service.verify_many(runtime, asked)
    assert answer["count"] == 5 and answer["unknown"] == 2
    assert [(r["number"], r["status"]) for r in answer["results"]] == [
        (known[0], "valid"), ("MSC2026AAAA00000001", "unknown"), (known[1], "valid"), ("NOT A NUMBER", "unknown"),
        (known[2], "valid"),
    ]


async def test_batch_verification_is_limited_to_1000_numbers(runtime: ServiceRuntime) -> None:
    assert (await service.verify_many(runtime, [f"MSC2026AAAA{i:08d}" for i in range(1, 1001)]))["unknown"] == 1000
    with pytest.raises(DomainError) as refused:
        await service.verify_many(runtime, [f"MSC2026AAAA{i:08d}" for i in range(1, 1002)])
    assert refused.value.status_code == 422 and refused.value.field == "numbers"


# --- the bulk loader --------------------------------------------------------------------


async def test_loader_builds_a_consistent_data_set_without_outbox_rows(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    report = await loader.load(runtime.settings.resolved_database_url(), 400, seed=3, bodies=4, enterprises=60,
                               today=TODAY, migrate=False)
    assert report.certificates == 400 and report.bodies == 4 and report.enterprises == 60
    async with runtime.sessions() as session:
        certs = (await session.execute(sa.select(db.certificates))).all()
        bodies = {r.uscc: r for r in (await session.execute(sa.select(db.bodies))).all()}
        history_rows = (await session.execute(sa.select(db.history))).all()
        sequences = dict((r.prefix, r.last) for r in await session.execute(sa.select(db.number_sequences)))
    assert len(certs) == 400 and len(history_rows) == report.history_rows
    assert await outbox(runtime) == []
    assert {c.status for c in certs} <= {s.value for s in domain.Status}
    for c in certs:
        parsed = domain.CertificateNumber.parse(c.number)
        assert uscc.validate(c.holder_uscc) == c.holder_uscc and uscc.validate(c.issuing_body_uscc)
        assert c.field in bodies[c.issuing_body_uscc].fields
        assert parsed.scheme.value == c.scheme and parsed.year == c.valid_from.year
        assert c.valid_until == domain.default_valid_until(c.scheme, c.valid_from)
        assert sequences[parsed.prefix] >= parsed.sequence
    per_certificate: dict[str, list[Any]] = {}
    for h in history_rows:
        per_certificate.setdefault(h.certificate_number, []).append(h)
    for c in certs:
        entries = per_certificate[c.number]
        assert entries[0].from_status is None and entries[-1].to_status == c.status
    # Consistent on its day: nothing is due, and issuance continues the sequences.
    assert await scheduler.run_due_transitions(runtime, today=TODAY) == {"withdrawn": 0, "expired": 0, "skipped": 0}
    loaded_body = next(iter(bodies.values()))
    field = loaded_body.fields[0]
    scheme = loader.FIELDS[field][0]
    new = await issue(runtime, loaded_body.uscc, uscc.make(rng), field=field, scheme=scheme.value)
    prefix = domain.number_prefix(scheme, TODAY.year, loaded_body.uscc)
    assert new["number"] == domain.certificate_number(prefix, sequences.get(prefix, 0) + 1)


async def test_loader_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    numbers = []
    for name in ("a", "b"):
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        await loader.load(url, 120, seed=42, today=dt.date(2026, 6, 1))
        engine = shared_db.create_engine(url)
        async with engine.connect() as conn:
            numbers.append((await conn.execute(
                sa.select(db.certificates.c.number, db.certificates.c.holder_uscc, db.certificates.c.status)
                .order_by(db.certificates.c.number)
            )).all())
        await engine.dispose()
    assert numbers[0] == numbers[1] and len(numbers[0]) == 120


def test_loader_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert loader.main(["--count", "50", "--data-dir", str(tmp_path), "--seed", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "loaded 50 certificates" in out and "certificates.db" in out
    assert (tmp_path / "certificates.db").exists()
