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
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conformity_shared import db as shared_db, events, uscc
from conformity_shared.clock import FixedClock
from conformity_shared.errors import Conflict, DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import (
    REGULATOR,
    agency,
    approval_change,
    approval_granted,
    certificate_request,
    new_uscc,
    rectification_verified,
    spot_check_failed,
)

from certificates import consumers, db, domain, loader, scheduler, service
from certificates.app import create_app
from certificates.commands import (
    CancelCertificate,
    IssueCertificate,
    ReinstateCertificate,
    SuspendCertificate,
    WithdrawCertificate,
)
from certificates.settings import CertificatesSettings

# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def rng() -> random.Random:
    return random.Random()


async def deliver(runtime: ServiceRuntime, event: events.Event) -> str:
    """Handle one event as the consumer would: its handler, in a unit of work, caused by it."""
    handler = consumers.handlers(runtime)[type(event)]  # type: ignore[arg-type]
    cause = str(uuid.uuid4())
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = cause
        await handler(uow, event)
        await uow.commit()
    return cause


async def grant(
    runtime: ServiceRuntime, body: str, fields: list[str], approval_id: str | None = None,
    field_schemes: dict[str, list[str]] | None = None,
) -> str:
    event = approval_granted(body, fields, approval_id=approval_id, field_schemes=field_schemes)
    await deliver(runtime, event)
    return event.approval_id


async def issue(runtime: ServiceRuntime, body: str, holder: str, **overrides: Any) -> dict[str, Any]:
    return await service.issue(runtime, agency(body), IssueCertificate(**certificate_request(holder, **overrides)))


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
    code = new_uscc(rng)
    await grant(runtime, code, ["MS-QMS", "CCC-07"])
    return code


# --- issuance ---------------------------------------------------------------------------


async def test_issuance_within_scope_gives_a_numbered_valid_certificate_and_its_event(
    runtime: ServiceRuntime, body: str, rng: random.Random, today: dt.date
) -> None:
    holder = new_uscc(rng)
    cert = await issue(runtime, body, holder)
    number = domain.CertificateNumber.parse(cert["number"])
    assert (number.scheme, number.year, number.body_code, number.sequence) == (
        domain.Scheme.MANAGEMENT_SYSTEM, today.year, body[-4:], 1
    )
    assert cert["status"] == "valid"
    assert cert["validity"] == {"from": today.isoformat(),
                                "until": domain.default_valid_until("management_system", today).isoformat()}
    assert [(h["from"], h["to"], h["reason"]) for h in cert["history"]] == [(None, "valid", "issued")]
    assert await outbox(runtime) == [("certificate.issued.v1", cert["number"])]


async def test_ccc_certificate_is_valid_five_years_by_default(
    runtime: ServiceRuntime, body: str, rng: random.Random, today: dt.date
) -> None:
    cert = await issue(runtime, body, new_uscc(rng), scheme="CCC", field="CCC-07",
                       valid_from=dt.date(today.year, 1, 10))
    assert cert["validity"]["until"] == dt.date(today.year + 5, 1, 9).isoformat()
    assert cert["number"].startswith(f"CCC{today.year}{body[-4:]}")


async def test_concurrent_issuance_never_draws_the_same_number(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    issued = await asyncio.gather(*(issue(runtime, body, new_uscc(rng)) for _ in range(12)))
    sequences = sorted(domain.CertificateNumber.parse(c["number"]).sequence for c in issued)
    assert sequences == list(range(1, 13))


@pytest.mark.parametrize(
    ("field", "rule"), [("CCC-08", "outside_scope"), ("MS-EMS", "outside_scope")]
)
async def test_issuance_refused_outside_the_approved_scope(
    runtime: ServiceRuntime, body: str, rng: random.Random, field: str, rule: str
) -> None:
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, body, new_uscc(rng), field=field)
    assert refused.value.rule == rule and refused.value.status_code == 422 and refused.value.field == "field"
    assert await outbox(runtime) == []


async def test_a_body_approved_only_for_ms_qms_does_not_issue_a_ccc_certificate_in_it(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = new_uscc(rng)
    await grant(runtime, code, ["MS-QMS"], field_schemes={"MS-QMS": ["management_system"]})
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, new_uscc(rng), scheme="CCC", field="MS-QMS")
    assert refused.value.status_code == 422 and refused.value.field == "scheme"
    assert refused.value.rule == "scheme_not_admitted_by_field"
    assert "MS-QMS admits management_system" in str(refused.value)
    assert await outbox(runtime) == []
    assert (await issue(runtime, code, new_uscc(rng), scheme="management_system", field="MS-QMS"))["status"] == "valid"


async def test_the_schemes_a_field_admits_are_the_grants(runtime: ServiceRuntime, rng: random.Random) -> None:
    # A catalogue configured so that MS-QMS also admits service certification.
    code = new_uscc(rng)
    await grant(runtime, code, ["MS-QMS"], field_schemes={"MS-QMS": ["management_system", "service"]})
    assert (await issue(runtime, code, new_uscc(rng), scheme="service", field="MS-QMS"))["status"] == "valid"
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, new_uscc(rng), scheme="voluntary_product", field="MS-QMS")
    assert refused.value.rule == "scheme_not_admitted_by_field"


async def test_a_grant_that_named_no_schemes_falls_back_to_the_default_catalogue(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = new_uscc(rng)
    await grant(runtime, code, ["MS-QMS", "X-CUSTOM"])  # an approval.granted.v1 recorded before field_schemes
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, new_uscc(rng), scheme="CCC", field="MS-QMS")
    assert refused.value.rule == "scheme_not_admitted_by_field"
    assert (await issue(runtime, code, new_uscc(rng), field="MS-QMS"))["status"] == "valid"
    # A field the default catalogue does not know: nobody said what it admits.
    with pytest.raises(domain.IssuanceRefused) as unknown:
        await issue(runtime, code, new_uscc(rng), scheme="service", field="X-CUSTOM")
    assert unknown.value.rule == "field_schemes_not_granted" and unknown.value.field == "field"


async def test_a_body_reinstates_only_under_a_scheme_its_field_admits(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = new_uscc(rng)
    await grant(runtime, code, ["MS-QMS"], field_schemes={"MS-QMS": ["management_system"]})
    number = (await issue(runtime, code, new_uscc(rng)))["number"]
    await service.suspend(runtime, agency(code), SuspendCertificate(number=number, reason="misuse"))
    async with runtime.sessions() as session:  # a certificate issued before schemes were tied to fields
        await session.execute(sa.update(db.certificates).where(db.certificates.c.number == number).values(scheme="CCC"))
        await session.commit()
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.reinstate(runtime, agency(code), ReinstateCertificate(number=number, reason="mark removed"))
    assert refused.value.rule == "scheme_not_admitted_by_field"


async def test_issuance_refused_for_a_body_never_approved(runtime: ServiceRuntime, rng: random.Random) -> None:
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, new_uscc(rng), new_uscc(rng))
    assert refused.value.rule == "not_approved"


async def test_issuance_refused_while_the_body_is_suspended_and_allowed_after_reinstatement(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    await deliver(runtime, approval_change(events.ApprovalSuspendedV1, code, approval, reason="failed inspection"))
    with pytest.raises(domain.IssuanceRefused, match="suspended") as refused:
        await issue(runtime, code, new_uscc(rng))
    assert refused.value.rule == "body_suspended"
    await deliver(runtime, approval_change(events.ApprovalReinstatedV1, code, approval, reason="rectified"))
    assert (await issue(runtime, code, new_uscc(rng)))["status"] == "valid"


async def test_issuance_refused_in_a_suspended_field(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS", "MS-EMS"])
    await deliver(runtime, approval_change(events.ApprovalSuspendedV1, code, approval, fields=["MS-EMS"],
                                           reason="lab failures"))
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, new_uscc(rng), field="MS-EMS")
    assert refused.value.rule == "field_suspended"
    assert (await issue(runtime, code, new_uscc(rng), field="MS-QMS"))["status"] == "valid"


async def test_issuance_refused_for_a_revoked_body_and_a_later_suspension_does_not_undo_the_revocation(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    await deliver(runtime, approval_change(events.ApprovalRevokedV1, code, approval, reason="commitment breached"))
    await deliver(runtime, approval_change(events.ApprovalSuspendedV1, code, approval, reason="late event"))
    await deliver(runtime, approval_change(events.ApprovalReinstatedV1, code, approval, reason="late event"))
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, new_uscc(rng))
    assert refused.value.rule == "body_revoked"


async def test_scope_reduction_refuses_the_removed_field(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS", "MS-EMS"])
    await deliver(runtime, approval_change(events.ApprovalScopeReducedV1, code, approval, removed_fields=["MS-EMS"],
                                           remaining_fields=["MS-QMS"], reason="staff left"))
    with pytest.raises(domain.IssuanceRefused) as refused:
        await issue(runtime, code, new_uscc(rng), field="MS-EMS")
    assert refused.value.rule == "outside_scope"


async def test_issuance_of_an_already_expired_certificate_is_refused(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    with pytest.raises(DomainError) as refused:
        await issue(runtime, body, new_uscc(rng), valid_from=dt.date(2015, 1, 1))
    assert refused.value.field == "valid_until"


async def test_issuance_beyond_the_schemes_longest_validity_is_refused(
    runtime: ServiceRuntime, body: str, rng: random.Random, today: dt.date
) -> None:
    fifty_years = dt.date(today.year + 50, 1, 1)
    with pytest.raises(DomainError) as refused:
        await issue(runtime, body, new_uscc(rng), scheme="CCC", field="CCC-07", valid_until=fifty_years)
    assert refused.value.status_code == 422 and refused.value.field == "valid_until"
    assert refused.value.rules[0]["rule"] == "validity_exceeds_scheme_maximum"
    with pytest.raises(DomainError) as backwards:
        await issue(runtime, body, new_uscc(rng), valid_from=today + dt.timedelta(days=10), valid_until=today)
    assert backwards.value.field == "valid_until"
    assert backwards.value.rules[0]["rule"] == "valid_until_not_after_valid_from"
    assert await outbox(runtime) == []


async def test_unknown_scheme_is_refused(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    with pytest.raises(domain.UnknownScheme):
        await issue(runtime, body, new_uscc(rng), scheme="organic")


async def test_business_dates_are_the_regulators_even_when_utc_is_still_the_day_before(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    # 17:00 UTC on 1 June is 01:00 on 2 June in Beijing.
    runtime.clock = FixedClock(instant=dt.datetime(2026, 6, 1, 17, 0, tzinfo=dt.UTC))
    cert = await issue(runtime, body, new_uscc(rng))
    assert cert["validity"] == {"from": "2026-06-02", "until": "2029-06-01"}
    suspended = await service.suspend(runtime, agency(body), SuspendCertificate(number=cert["number"], reason="misuse"))
    assert suspended["suspension"]["until"] == "2026-12-02"
    assert suspended["last_change"]["at"] == "2026-06-01T17:00:00+00:00"  # instants stay UTC


# --- object-level authorization ---------------------------------------------------------


async def test_a_body_manages_only_the_certificates_it_issued(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    other = new_uscc(rng)
    await grant(runtime, other, ["MS-QMS"])
    number = (await issue(runtime, body, new_uscc(rng)))["number"]
    requests = (
        (service.suspend, SuspendCertificate(number=number, reason="misuse")),
        (service.withdraw, WithdrawCertificate(number=number, reason="audit failed")),
        (service.reinstate, ReinstateCertificate(number=number, reason="ok")),
    )
    for use_case, command in requests:
        with pytest.raises(domain.ActionForbidden) as refused:
            await use_case(runtime, agency(other), command)  # type: ignore[operator]
        assert refused.value.status_code == 403 and refused.value.rule == "not_issuing_body"
    with pytest.raises(domain.ActionForbidden):
        await service.get_certificate(runtime, agency(other), number)
    assert (await public(runtime, number))["status"] == "valid"
    assert [t for t, _ in await outbox(runtime)] == ["certificate.issued.v1"]


async def test_the_issuing_body_and_the_regulator_may_suspend_and_withdraw(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    number = (await issue(runtime, body, new_uscc(rng)))["number"]
    suspended = await service.suspend(
        runtime, agency(body), SuspendCertificate(number=number, reason="misuse", note="logo on uncertified models")
    )
    assert suspended["status"] == "suspended" and suspended["history"][-1]["note"] == "logo on uncertified models"
    withdrawn = await service.withdraw(
        runtime, REGULATOR, WithdrawCertificate(number=number, reason="misuse not corrected")
    )
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["history"][-1]["actor"] == "regulator:regulator"
    assert [t for t, _ in await outbox(runtime)] == [
        "certificate.issued.v1", "certificate.suspended.v1", "certificate.withdrawn.v1"
    ]


async def test_holder_requested_cancellation_only_by_the_issuing_body_with_the_holder_reference(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    number = (await issue(runtime, body, new_uscc(rng)))["number"]
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.cancel(runtime, REGULATOR, CancelCertificate(
            number=number, reason="holder stopped production", holder_reference="letter 12"
        ))
    assert refused.value.rule == "holder_request_through_body"
    with pytest.raises(DomainError) as missing:
        await service.cancel(runtime, agency(body), CancelCertificate(number=number, reason="holder stopped production"))
    assert missing.value.field == "holder_reference"
    cancelled = await service.cancel(runtime, agency(body), CancelCertificate(
        number=number, reason="holder stopped production", holder_reference="letter 12"
    ))
    assert cancelled["status"] == "cancelled"
    async with runtime.sessions() as session:
        request = (await session.execute(sa.select(db.holder_requests))).one()
    assert (request.certificate_number, request.action, request.requested_by_body, request.holder_reference) == (
        number, "cancel", body, "letter 12"
    )


async def test_suspension_at_the_holders_request_needs_the_reference(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    number = (await issue(runtime, body, new_uscc(rng)))["number"]
    with pytest.raises(DomainError) as missing:
        await service.suspend(
            runtime, agency(body), SuspendCertificate(number=number, reason="holder_request", holder_reference=" ")
        )
    assert missing.value.field == "holder_reference"
    by_holder_request = SuspendCertificate(number=number, reason="holder_request", holder_reference="letter 7")
    with pytest.raises(domain.ActionForbidden):
        await service.suspend(runtime, REGULATOR, by_holder_request)
    answer = await service.suspend(runtime, agency(body), by_holder_request)
    assert answer["suspension"]["reason"] == "holder_request"


async def test_imposed_suspension_reasons_cannot_be_given_by_hand(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    number = (await issue(runtime, body, new_uscc(rng)))["number"]
    for reason in ("spot_check_failed", "issuing_body_revoked"):
        with pytest.raises(DomainError) as refused:
            await service.suspend(runtime, REGULATOR, SuspendCertificate(number=number, reason=reason))
        assert refused.value.field == "reason"


async def test_the_body_does_not_lift_a_spot_check_suspension_but_the_regulator_may(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    holder = new_uscc(rng)
    number = (await issue(runtime, body, holder))["number"]
    await deliver(runtime, spot_check_failed(holder, [number], inspection_id="insp-1", findings="overheats"))
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.reinstate(runtime, agency(body), ReinstateCertificate(number=number, reason="we checked"))
    assert refused.value.rule == "imposed_suspension"
    appeal = ReinstateCertificate(number=number, reason="appeal upheld")
    assert (await service.reinstate(runtime, REGULATOR, appeal))["status"] == "valid"


async def test_a_suspended_body_may_not_reinstate_its_certificates(runtime: ServiceRuntime, rng: random.Random) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    number = (await issue(runtime, code, new_uscc(rng)))["number"]
    await service.suspend(runtime, agency(code), SuspendCertificate(number=number, reason="surveillance_overdue"))
    await deliver(runtime, approval_change(events.ApprovalSuspendedV1, code, approval, reason="failed inspection"))
    with pytest.raises(domain.ActionForbidden) as refused:
        await service.reinstate(runtime, agency(code), ReinstateCertificate(number=number, reason="audit done"))
    assert refused.value.rule == "body_suspended"


async def test_illegal_transitions_answer_409_with_the_rule(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    number = (await issue(runtime, body, new_uscc(rng)))["number"]
    await service.withdraw(runtime, REGULATOR, WithdrawCertificate(number=number, reason="fraud"))
    with pytest.raises(Conflict, match="withdrawn certificate is final") as refused:
        await service.reinstate(runtime, REGULATOR, ReinstateCertificate(number=number, reason="mistake"))
    assert refused.value.status_code == 409
    with pytest.raises(NotFound):
        await service.withdraw(runtime, REGULATOR, WithdrawCertificate(number="MSC2026AAAA00000001", reason="x"))


# --- automatic reactions ----------------------------------------------------------------


async def test_failed_spot_check_suspends_the_named_valid_certificates_of_the_holder_for_six_months(
    runtime: ServiceRuntime, body: str, rng: random.Random, today: dt.date
) -> None:
    holder, stranger = new_uscc(rng), new_uscc(rng)
    named = [(await issue(runtime, body, holder))["number"] for _ in range(2)]
    untouched = (await issue(runtime, body, holder))["number"]
    of_another_holder = (await issue(runtime, body, stranger))["number"]
    cause = await deliver(runtime, spot_check_failed(
        holder, [*named, of_another_holder, "CCC2026XXXX00000001"], inspection_id="insp-9", findings="overheats"
    ))
    for number in named:
        answer = await public(runtime, number)
        assert answer["status"] == "suspended"
        assert answer["suspension"] == {"reason": "spot_check_failed",
                                        "until": domain.add_months(today, 6).isoformat()}
        assert (await history(runtime, number))[-1]["cause_event_id"] == cause
    assert (await public(runtime, untouched))["status"] == "valid"
    assert (await public(runtime, of_another_holder))["status"] == "valid"
    assert sorted(k for t, k in await outbox(runtime) if t == "certificate.suspended.v1") == sorted(named)


async def test_rectification_reinstates_exactly_the_certificates_that_spot_check_suspended(
    runtime: ServiceRuntime, body: str, rng: random.Random
) -> None:
    holder = new_uscc(rng)
    a, b, c = [(await issue(runtime, body, holder))["number"] for _ in range(3)]
    await deliver(runtime, spot_check_failed(holder, [a, b], inspection_id="sc-1", findings="x"))
    await deliver(runtime, spot_check_failed(holder, [c], inspection_id="sc-2", findings="y"))
    await deliver(runtime, rectification_verified(holder, "sc-1", [a, b, c], inspection_id="re-1"))
    assert [(await public(runtime, n))["status"] for n in (a, b, c)] == ["valid", "valid", "suspended"]
    assert sorted(k for t, k in await outbox(runtime) if t == "certificate.reinstated.v1") == sorted([a, b])


async def test_revoked_approval_suspends_every_valid_certificate_of_the_body_one_event_each(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    valid = [(await issue(runtime, code, new_uscc(rng)))["number"] for _ in range(5)]
    withdrawn = valid.pop()
    await service.withdraw(runtime, REGULATOR, WithdrawCertificate(number=withdrawn, reason="fraud"))
    other_body = new_uscc(rng)
    await grant(runtime, other_body, ["MS-QMS"])
    elsewhere = (await issue(runtime, other_body, new_uscc(rng)))["number"]
    before = len(await outbox(runtime))

    cause = await deliver(runtime, approval_change(events.ApprovalRevokedV1, code, approval, reason="commitment breached"))
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
    await deliver(runtime, approval_change(events.ApprovalRevokedV1, code, approval, reason="again"))
    assert len(await outbox(runtime)) == before + len(valid)


async def test_the_regulator_does_not_reinstate_a_certificate_while_its_issuing_body_is_revoked(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code = new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    number = (await issue(runtime, code, new_uscc(rng)))["number"]
    await deliver(runtime, approval_change(events.ApprovalRevokedV1, code, approval, reason="commitment breached"))
    before = await outbox(runtime)

    with pytest.raises(Conflict) as refused:
        await service.reinstate(runtime, REGULATOR, ReinstateCertificate(number=number, reason="appeal upheld"))
    assert refused.value.status_code == 409
    assert refused.value.rules[0]["rule"] == "issuing_body_revoked"
    assert (await public(runtime, number))["status"] == "suspended" and await outbox(runtime) == before

    await grant(runtime, code, ["MS-QMS"])  # approved again, on a new application
    reinstated = await service.reinstate(runtime, REGULATOR, ReinstateCertificate(number=number, reason="re-approved"))
    assert reinstated["status"] == "valid"


async def test_rectification_does_not_reinstate_a_certificate_of_a_revoked_body(
    runtime: ServiceRuntime, rng: random.Random
) -> None:
    code, holder = new_uscc(rng), new_uscc(rng)
    approval = await grant(runtime, code, ["MS-QMS"])
    number = (await issue(runtime, code, holder))["number"]
    await deliver(runtime, spot_check_failed(holder, [number], inspection_id="sc-9", findings="overheats"))
    await deliver(runtime, approval_change(events.ApprovalRevokedV1, code, approval, reason="commitment breached"))
    await deliver(runtime, rectification_verified(holder, "sc-9", [number], inspection_id="re-9"))
    assert (await public(runtime, number))["status"] == "suspended"
    assert not [k for t, k in await outbox(runtime) if t == "certificate.reinstated.v1"]


async def test_bulk_suspension_of_a_large_body_keeps_history_and_one_event_per_certificate(
    runtime: ServiceRuntime, today: dt.date
) -> None:
    await loader.load(runtime.settings.resolved_database_url(), 3000, seed=11, bodies=2, enterprises=200, today=today,
                      migrate=False)
    async with runtime.sessions() as session:
        code, approval = (await session.execute(sa.select(db.bodies.c.uscc, db.bodies.c.approval_id).limit(1))).one()
        valid = set((await session.scalars(
            sa.select(db.certificates.c.number).where(db.certificates.c.issuing_body_uscc == code,
                                                      db.certificates.c.status == "valid")
        )).all())
        history_before = await session.scalar(sa.select(sa.func.count()).select_from(db.history))
    assert len(valid) > 1000
    await deliver(runtime, approval_change(events.ApprovalRevokedV1, code, approval, reason="revoked"))
    emitted = await outbox(runtime)
    assert [k for _, k in emitted] == sorted(valid) and {t for t, _ in emitted} == {"certificate.suspended.v1"}
    async with runtime.sessions() as session:
        history_after = await session.scalar(sa.select(sa.func.count()).select_from(db.history))
        still_valid = await session.scalar(sa.select(sa.func.count()).select_from(db.certificates).where(
            db.certificates.c.issuing_body_uscc == code, db.certificates.c.status == "valid"))
    assert history_after - history_before == len(valid) and still_valid == 0


# --- time-based transitions -------------------------------------------------------------


async def test_passed_suspension_deadline_withdraws_once(
    runtime: ServiceRuntime, body: str, rng: random.Random, today: dt.date
) -> None:
    holder = new_uscc(rng)
    number = (await issue(runtime, body, holder))["number"]
    await deliver(runtime, spot_check_failed(holder, [number], inspection_id="sc", findings="x"))
    deadline = domain.add_months(today, 6)
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
    cert = await issue(runtime, body, new_uscc(rng))
    until = dt.date.fromisoformat(cert["validity"]["until"])
    assert (await scheduler.run_due_transitions(runtime, today=until))["expired"] == 0
    assert (await scheduler.run_due_transitions(runtime, today=until + dt.timedelta(days=1)))["expired"] == 1
    assert (await public(runtime, cert["number"]))["status"] == "expired"
    assert (await scheduler.run_due_transitions(runtime, today=until + dt.timedelta(days=2)))["expired"] == 0
    assert [t for t, _ in await outbox(runtime)] == ["certificate.issued.v1", "certificate.expired.v1"]


async def test_when_validity_ends_before_the_suspension_deadline_the_certificate_expires(
    runtime: ServiceRuntime, body: str, rng: random.Random, today: dt.date
) -> None:
    until = today + dt.timedelta(days=30)
    number = (await issue(runtime, body, new_uscc(rng), valid_until=until))["number"]
    await service.suspend(runtime, agency(body), SuspendCertificate(number=number, reason="misuse"))
    counts = await scheduler.run_due_transitions(runtime, today=domain.add_months(today, 7))
    assert counts == {"withdrawn": 0, "expired": 1, "skipped": 0}
    assert (await public(runtime, number))["status"] == "expired"


async def test_two_instances_running_the_scheduler_at_once_transition_each_certificate_once(
    runtime: ServiceRuntime, settings: CertificatesSettings, body: str, rng: random.Random
) -> None:
    numbers = [(await issue(runtime, body, new_uscc(rng)))["number"] for _ in range(30)]
    second = create_app(settings).state.runtime
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


# --- public verification ----------------------------------------------------------------


async def test_public_verification_of_one_number(runtime: ServiceRuntime, body: str, rng: random.Random) -> None:
    holder = new_uscc(rng)
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
    known = [(await issue(runtime, body, new_uscc(rng)))["number"] for _ in range(3)]
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
    runtime: ServiceRuntime, rng: random.Random, today: dt.date
) -> None:
    report = await loader.load(runtime.settings.resolved_database_url(), 400, seed=3, bodies=4, enterprises=60,
                               today=today, migrate=False)
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
        assert c.scheme in bodies[c.issuing_body_uscc].field_schemes[c.field]
        assert sequences[parsed.prefix] >= parsed.sequence
    per_certificate: dict[str, list[Any]] = {}
    for h in history_rows:
        per_certificate.setdefault(h.certificate_number, []).append(h)
    for c in certs:
        entries = per_certificate[c.number]
        assert entries[0].from_status is None and entries[-1].to_status == c.status
    # Consistent on its day: nothing is due, and issuance continues the sequences.
    assert await scheduler.run_due_transitions(runtime, today=today) == {"withdrawn": 0, "expired": 0, "skipped": 0}
    loaded_body = next(iter(bodies.values()))
    field = loaded_body.fields[0]
    scheme = loader.FIELDS[field][0]
    new = await issue(runtime, loaded_body.uscc, new_uscc(rng), field=field, scheme=scheme.value)
    prefix = domain.number_prefix(scheme, today.year, loaded_body.uscc)
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
