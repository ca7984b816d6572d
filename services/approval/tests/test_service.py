"""Approval's use cases against a real SQLite database, with no broker: what each one
stores, which events it puts in the outbox (in one transaction), and whom it refuses.

Kafka points at an unreachable address, so a use case that touched the broker would fail.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka.structs import ConsumerRecord

from conformity_shared import events
from conformity_shared.clock import FixedClock
from conformity_shared.envelope import Envelope
from conformity_shared.errors import Conflict, DomainError, Forbidden, NotFound
from conformity_shared.messaging import EventConsumer, FailureLog, UnitOfWork
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.testing import envelope_as_owner
from conformity_devstack.factories import (
    REGULATOR,
    agency,
    application,
    inspector,
    lab_application,
    new_uscc,
    standard_application,
)

from approval import consumers, db, service
from approval.commands import (
    AssignVerification,
    DecideApplication,
    RecordVerification,
    ReduceScope,
    ReinstateApproval,
    RevokeApproval,
    SubmitApplication,
    SuspendApproval,
)
from approval.domain import ApplicationRefused, Decision, VerificationOutcome
from approval.policy import in_force

CONFIRMED, BREACHED = VerificationOutcome.CONFIRMED, VerificationOutcome.BREACHED


async def apply(rt: ServiceRuntime, body: dict[str, Any], principal: Any = None) -> dict[str, Any]:
    """The agency of the body's organisation (or ``principal``) applies with the body as posted."""
    command = SubmitApplication.model_validate(body)
    return await service.apply(rt, principal or agency(body["organisation_uscc"]), command)


async def decide(rt: ServiceRuntime, application_id: str, decision: Decision, **details: Any) -> dict[str, Any]:
    command = DecideApplication(application_id=application_id, decision=decision, **details)
    return await service.decide(rt, REGULATOR, command)


async def assign(rt: ServiceRuntime, verification_id: str, inspector_id: str) -> dict[str, Any]:
    command = AssignVerification(verification_id=verification_id, inspector_id=inspector_id)
    return await service.assign_verification(rt, REGULATOR, command)


async def record_verification(
    rt: ServiceRuntime, inspector_id: str, verification_id: str, outcome: VerificationOutcome, findings: str
) -> dict[str, Any]:
    command = RecordVerification(verification_id=verification_id, outcome=outcome, findings=findings)
    return await service.record_verification(rt, inspector(inspector_id), command)


async def outbox(rt: ServiceRuntime) -> list[dict[str, Any]]:
    """The events the use cases committed, in order: type, key and body."""
    async with rt.sessions() as session:
        rows = (await session.execute(sa.select(db.outbox).order_by(db.outbox.c.seq))).all()
    return [{"type": r.event_type, "key": r.key, "topic": r.topic, "body": json.loads(r.payload)} for r in rows]


async def types(rt: ServiceRuntime) -> list[str]:
    return [e["type"] for e in await outbox(rt)]


async def granted_on_commitment(rt: ServiceRuntime, application: dict[str, Any]) -> dict[str, Any]:
    answer = await apply(rt, application)
    assert answer["status"] == "granted"
    return answer


async def assigned_verification(rt: ServiceRuntime, approval: dict[str, Any], inspector_id: str) -> str:
    verification_id = approval["verifications"][0]["id"]
    await assign(rt, verification_id, inspector_id)
    return verification_id


def record(event: events.Event, envelope: Envelope | None = None, offset: int = 0) -> ConsumerRecord:
    """A Kafka record as the consumer receives it (CloudEvents binary mode)."""
    envelope = envelope or envelope_as_owner(event)
    value = event.model_dump_json().encode()
    return ConsumerRecord(
        event.topic, 0, offset, 0, 0, envelope.subject.encode(), value, None, len(envelope.subject), len(value),
        envelope.headers(),
    )


# --- the commitment path -----------------------------------------------------------------


async def test_commitment_application_is_granted_in_the_same_call(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    answer = await granted_on_commitment(runtime, application(org))

    approval = answer["approval"]
    assert approval["status"] == "active"
    assert approval["fields"] == ["MS-QMS"] == approval["approved_fields"]
    assert [h["action"] for h in approval["history"]] == ["granted"]
    verification = approval["verifications"][0]
    assert verification["status"] == "scheduled"
    assert verification["due"] == (runtime.clock.today() + dt.timedelta(days=90)).isoformat()

    emitted = await outbox(runtime)
    assert [(e["type"], e["key"], e["topic"]) for e in emitted] == [("approval.granted.v1", approval["id"], "approval.events")]
    assert emitted[0]["body"]["fields"] == ["MS-QMS"]
    assert emitted[0]["body"]["field_schemes"] == {"MS-QMS": ["management_system"]}
    assert emitted[0]["body"]["path"] == "commitment"
    assert emitted[0]["body"]["organisation_uscc"] == org


async def test_commitment_refusal_lists_every_failed_rule_keeps_the_application_and_emits_nothing(
    runtime: ServiceRuntime,
) -> None:
    org = new_uscc()
    body = application(
        org,
        requested_fields=["CCC-07", "MS-QMS"],
        declared={"staff_per_field": {"CCC-07": 12, "MS-QMS": 4}, "registered_capital_rmb": 1_000_000,
                  "premises": "Fuzhou", "management_system": "manual v1"},
    )
    with pytest.raises(ApplicationRefused) as refused:
        await apply(runtime, body)

    failed = {(r["rule"], r["field"]) for r in refused.value.rules}
    assert failed == {
        ("commitment_refused_for_high_risk_field", "requested_fields.CCC-07"),
        ("staff_below_minimum", "declared.staff_per_field.MS-QMS"),
        ("registered_capital_below_minimum", "declared.registered_capital_rmb"),
    }
    assert refused.value.status_code == 422
    kept = await service.get_application(runtime, agency(org), refused.value.body()["application_id"])
    assert kept["status"] == "refused"
    assert {(r["rule"], r["field"]) for r in kept["failed_rules"]} == failed
    assert kept["approval_id"] is None
    assert await outbox(runtime) == []


async def test_missing_declarations_are_refused_by_the_rules_all_at_once(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    with pytest.raises(ApplicationRefused) as refused:
        await apply(runtime, application(org, declared={}, commitment_text=None))
    assert {r["rule"] for r in refused.value.rules} == {
        "commitment_text_missing", "premises_missing", "management_system_missing", "staff_missing",
        "registered_capital_missing",
    }


@pytest.mark.parametrize("settings", [{"min_staff_per_field": 4, "min_registered_capital_rmb": 1_000_000}], indirect=True)
async def test_rules_come_from_settings(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    small = application(org, declared={"staff_per_field": {"MS-QMS": 4}, "registered_capital_rmb": 1_000_000,
                                       "premises": "Xiamen", "management_system": "manual v1"})
    assert (await apply(runtime, small))["status"] == "granted"


async def test_an_agency_applies_only_for_its_own_organisation(runtime: ServiceRuntime) -> None:
    with pytest.raises(Forbidden):
        await apply(runtime, application(new_uscc()), agency(new_uscc()))
    assert await outbox(runtime) == []


# --- the standard path -------------------------------------------------------------------


async def test_standard_application_is_accepted_with_a_deadline_20_working_days_later(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    assert submitted["status"] == "submitted"

    accepted = await service.accept(runtime, REGULATOR, submitted["id"])
    today = runtime.clock.today()  # the regulator's day
    assert accepted["status"] == "accepted"
    assert accepted["accepted_on"] == today.isoformat()
    due = dt.date.fromisoformat(accepted["decision_due"])
    assert due == in_force(runtime).calendar.add_working_days(today, 20)
    assert accepted["working_days_left"] == 20
    assert await outbox(runtime) == []  # nothing is decided yet


# 23:30 UTC on Sunday 1 March 2026 is 07:30 on Monday 2 March in Beijing.
BEFORE_EIGHT_IN_BEIJING = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)


async def test_acceptance_is_dated_on_the_regulators_day_not_the_servers(runtime: ServiceRuntime) -> None:
    runtime.clock = FixedClock(instant=BEFORE_EIGHT_IN_BEIJING)
    submitted = await apply(runtime, standard_application(new_uscc()))
    accepted = await service.accept(runtime, REGULATOR, submitted["id"])
    assert accepted["accepted_on"] == "2026-03-02"
    assert accepted["decision_due"] == "2026-03-30"  # March 2026 has no public holiday
    assert accepted["working_days_left"] == 20


# 02:00 UTC on Monday 14 December 2026 is 10:00 the same day in Beijing; 20 working days
# later is in January 2027, a year whose State Council notice the service does not have.
MID_DECEMBER_2026 = dt.datetime(2026, 12, 14, 2, 0, tzinfo=dt.UTC)
WITHOUT_TEST_CALENDARS = pytest.mark.parametrize("settings", [{"working_day_calendars": []}], indirect=True)


@WITHOUT_TEST_CALENDARS
async def test_acceptance_whose_deadline_runs_into_a_year_without_a_calendar_is_refused_naming_it(
    runtime: ServiceRuntime,
) -> None:
    runtime.clock = FixedClock(instant=MID_DECEMBER_2026)
    submitted = await apply(runtime, standard_application(new_uscc()))

    with pytest.raises(DomainError) as refused:
        await service.accept(runtime, REGULATOR, submitted["id"])

    assert refused.value.status_code == 422
    assert refused.value.field == "decision_due"
    assert [r["rule"] for r in refused.value.rules] == ["working_day_calendar_missing"]
    assert "2027" in str(refused.value) and "2027" in refused.value.rules[0]["detail"]
    # Nothing is half-written: the application waits, still submitted, for the 2027 calendar.
    kept = await service.get_application(runtime, REGULATOR, submitted["id"])
    assert kept["status"] == "submitted"
    assert kept["accepted_on"] is None and kept["decision_due"] is None
    assert await outbox(runtime) == []


@WITHOUT_TEST_CALENDARS
async def test_working_days_left_is_null_with_its_reason_when_counting_runs_through_a_year_without_a_calendar(
    runtime: ServiceRuntime,
) -> None:
    runtime.clock = FixedClock(instant=BEFORE_EIGHT_IN_BEIJING)
    submitted = await apply(runtime, standard_application(new_uscc()))
    await service.accept(runtime, REGULATOR, submitted["id"])  # due 2026-03-30

    late = await service.overdue(runtime, dt.date(2027, 2, 1))

    (listed,) = [a for a in late["applications"] if a["id"] == submitted["id"]]
    assert listed["overdue"] is True
    assert listed["working_days_left"] is None
    assert listed["working_days_left_unknown"]["rule"] == "working_day_calendar_missing"
    assert "2027" in listed["working_days_left_unknown"]["detail"]
    runtime.clock = FixedClock(instant=dt.datetime(2027, 2, 1, 2, 0, tzinfo=dt.UTC))
    seen = await service.get_application(runtime, REGULATOR, submitted["id"])
    assert seen["working_days_left"] is None and seen["overdue"] is True


async def test_verification_is_due_90_days_after_the_regulators_day_of_the_grant(runtime: ServiceRuntime) -> None:
    runtime.clock = FixedClock(instant=BEFORE_EIGHT_IN_BEIJING)
    granted = await granted_on_commitment(runtime, application(new_uscc()))
    assert granted["approval"]["verifications"][0]["due"] == "2026-05-31"


async def test_regulator_grants_a_subset_of_fields_with_reasons(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    await service.accept(runtime, REGULATOR, submitted["id"])

    decided = await decide(
        runtime, submitted["id"], Decision.GRANT,
        granted_fields=["MS-QMS"], reasons=["CCC-07: test equipment not yet calibrated"],
    )

    assert decided["status"] == "granted"
    assert decided["decided_by"] == "regulator:regulator"
    assert decided["decision_reasons"] == ["CCC-07: test equipment not yet calibrated"]
    assert decided["approval"]["fields"] == ["MS-QMS"]
    assert decided["approval"]["path"] == "standard"
    assert decided["approval"]["verifications"] == []  # only commitment-path approvals are verified after
    emitted = await outbox(runtime)
    assert [e["type"] for e in emitted] == ["approval.granted.v1"]
    assert emitted[0]["body"]["fields"] == ["MS-QMS"]


async def test_a_grant_names_the_schemes_each_granted_field_admits(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    await service.accept(runtime, REGULATOR, submitted["id"])
    await decide(runtime, submitted["id"], Decision.GRANT)
    [granted] = await outbox(runtime)
    assert granted["body"]["fields"] == ["CCC-07", "MS-QMS"]
    assert granted["body"]["field_schemes"] == {"CCC-07": ["CCC"], "MS-QMS": ["management_system"]}


async def test_a_subset_without_reasons_is_refused(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    await service.accept(runtime, REGULATOR, submitted["id"])
    with pytest.raises(DomainError) as refused:
        await decide(runtime, submitted["id"], Decision.GRANT, granted_fields=["MS-QMS"])
    assert refused.value.field == "reasons"
    assert (await service.get_application(runtime, REGULATOR, submitted["id"]))["status"] == "accepted"
    assert await outbox(runtime) == []


async def test_regulator_rejects_with_reasons_and_nothing_is_emitted(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    await service.accept(runtime, REGULATOR, submitted["id"])
    decided = await decide(
        runtime, submitted["id"], Decision.REJECT, reasons=["premises inspection found no testing laboratory"]
    )
    assert decided["status"] == "rejected"
    assert decided["decision_reasons"] == ["premises inspection found no testing laboratory"]
    assert "approval" not in decided
    assert await outbox(runtime) == []


async def test_deciding_twice_is_a_conflict(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    await service.accept(runtime, REGULATOR, submitted["id"])
    await decide(runtime, submitted["id"], Decision.REJECT, reasons=["incomplete staff"])
    with pytest.raises(Conflict):
        await decide(runtime, submitted["id"], Decision.GRANT)


async def test_overdue_lists_applications_and_verifications_from_the_day_after_their_deadline(
    runtime: ServiceRuntime,
) -> None:
    org = new_uscc()
    submitted = await apply(runtime, standard_application(org))
    accepted = await service.accept(runtime, REGULATOR, submitted["id"])
    decision_due = dt.date.fromisoformat(accepted["decision_due"])
    committed = await granted_on_commitment(runtime, application(new_uscc()))
    verification = committed["approval"]["verifications"][0]
    verification_due = dt.date.fromisoformat(verification["due"])

    on_time = await service.overdue(runtime, decision_due)
    assert submitted["id"] not in {a["id"] for a in on_time["applications"]}
    late = await service.overdue(runtime, decision_due + dt.timedelta(days=1))
    assert [a["id"] for a in late["applications"]] == [submitted["id"]]
    assert late["applications"][0]["overdue"] is True
    assert late["applications"][0]["working_days_left"] <= 0

    assert verification["id"] not in {v["id"] for v in (await service.overdue(runtime, verification_due))["verifications"]}
    late_checks = await service.overdue(runtime, verification_due + dt.timedelta(days=1))
    assert [v["id"] for v in late_checks["verifications"]] == [verification["id"]]

    # Decided and recorded ones are no longer overdue.
    await decide(runtime, submitted["id"], Decision.GRANT)
    await assign(runtime, verification["id"], "insp-1")
    await record_verification(runtime, "insp-1", verification["id"], CONFIRMED, "all true")
    later = await service.overdue(runtime, verification_due + dt.timedelta(days=400))
    assert later["applications"] == [] and later["verifications"] == []


# --- object-level authorization --------------------------------------------------------------


async def test_another_agencys_application_and_approval_answer_not_found(runtime: ServiceRuntime) -> None:
    org, other = new_uscc(), new_uscc()
    granted = await granted_on_commitment(runtime, application(org))
    with pytest.raises(NotFound):
        await service.get_application(runtime, agency(other), granted["id"])
    with pytest.raises(NotFound):
        await service.get_approval(runtime, agency(other), granted["approval_id"])
    assert (await service.list_applications(runtime, agency(other), None, 100, 0))["items"] == []
    assert (await service.list_approvals(runtime, agency(other), None))["items"] == []
    # its own agency and the regulator see it
    assert (await service.get_application(runtime, agency(org), granted["id"]))["id"] == granted["id"]
    assert (await service.get_approval(runtime, REGULATOR, granted["approval_id"]))["organisation_uscc"] == org


async def test_only_the_assigned_inspector_records_the_verification(runtime: ServiceRuntime) -> None:
    granted = await granted_on_commitment(runtime, application(new_uscc()))
    verification_id = granted["approval"]["verifications"][0]["id"]
    with pytest.raises(Forbidden):  # nobody is assigned yet
        await record_verification(runtime, "insp-1", verification_id, CONFIRMED, "all true")
    await assign(runtime, verification_id, "insp-1")
    with pytest.raises(Forbidden):
        await record_verification(runtime, "insp-2", verification_id, BREACHED, "no staff")
    assert (await service.get_verification(runtime, verification_id))["status"] == "scheduled"

    mine = await service.list_verifications(runtime, inspector("insp-1"), None)
    assert [v["id"] for v in mine["items"]] == [verification_id]
    assert (await service.list_verifications(runtime, inspector("insp-2"), None))["items"] == []

    recorded = await record_verification(runtime, "insp-1", verification_id, CONFIRMED, "all true")
    assert recorded["status"] == "confirmed"
    assert recorded["inspector_id"] == "insp-1"
    assert await types(runtime) == ["approval.granted.v1"]  # a confirmation changes no approval
    with pytest.raises(Conflict):  # recorded once
        await record_verification(runtime, "insp-1", verification_id, BREACHED, "late finding")
    with pytest.raises(Conflict):  # and no longer re-assigned
        await assign(runtime, verification_id, "insp-2")


# --- breach, lifecycle ---------------------------------------------------------------------


async def test_breached_commitment_revokes_with_a_credit_sanction_breach_event_first(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    granted = await granted_on_commitment(runtime, application(org))
    approval_id = granted["approval_id"]
    verification_id = await assigned_verification(runtime, granted["approval"], "insp-7")

    recorded = await record_verification(
        runtime, "insp-7", verification_id, BREACHED, "only 4 qualified staff found for MS-QMS"
    )

    assert recorded["status"] == "breached"
    emitted = await outbox(runtime)
    assert [(e["type"], e["key"]) for e in emitted] == [
        ("approval.granted.v1", approval_id),
        ("approval.commitment_breached.v1", approval_id),
        ("approval.revoked.v1", approval_id),
    ]
    assert emitted[1]["body"]["verification_id"] == verification_id
    assert emitted[1]["body"]["findings"] == "only 4 qualified staff found for MS-QMS"
    approval = await service.get_approval(runtime, REGULATOR, approval_id)
    assert approval["status"] == "revoked"
    assert approval["approved_fields"] == []
    assert [(h["action"], h["from"], h["to"]) for h in approval["history"]] == [
        ("granted", None, "active"), ("revoked", "active", "revoked"),
    ]
    assert approval["history"][-1]["actor"] == "inspector:insp-7"
    sanctions = (await service.credit_sanctions(runtime, agency(org), None))["items"]
    assert [(s["organisation_uscc"], s["verification_id"]) for s in sanctions] == [(org, verification_id)]


async def test_regulator_lifecycle_changes_are_kept_as_history_each_with_its_event(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    granted = await granted_on_commitment(runtime, lab_application(org))
    approval_id = granted["approval_id"]

    def suspend(reason: str, *fields: str) -> SuspendApproval:
        return SuspendApproval(approval_id=approval_id, reason=reason, fields=fields)

    def reinstate(reason: str, *fields: str) -> ReinstateApproval:
        return ReinstateApproval(approval_id=approval_id, reason=reason, fields=fields)

    await service.suspend_approval(runtime, REGULATOR, suspend("equipment out of calibration", "TL-EMC"))
    await service.reinstate_approval(runtime, REGULATOR, reinstate("recalibrated", "TL-EMC"))
    await service.suspend_approval(runtime, REGULATOR, suspend("management review missing"))
    await service.reinstate_approval(runtime, REGULATOR, reinstate("review held"))
    await service.reduce_scope(
        runtime, REGULATOR, ReduceScope(approval_id=approval_id, reason="EMC chamber closed", remove_fields=["TL-EMC"])
    )
    final = await service.revoke_approval(
        runtime, REGULATOR, RevokeApproval(approval_id=approval_id, reason="ceased operations")
    )

    assert final["status"] == "revoked"
    assert final["fields"] == ["TL-ELEC"]
    assert [(h["action"], h["fields"]) for h in final["history"]] == [
        ("granted", ["TL-ELEC", "TL-EMC"]),
        ("suspended", ["TL-EMC"]),
        ("reinstated", ["TL-EMC"]),
        ("suspended", []),
        ("reinstated", []),
        ("scope_reduced", ["TL-EMC"]),
        ("revoked", []),
    ]
    assert all(h["actor"] == "regulator:regulator" for h in final["history"][1:])
    assert await types(runtime) == [
        "approval.granted.v1", "approval.suspended.v1", "approval.reinstated.v1", "approval.suspended.v1",
        "approval.reinstated.v1", "approval.scope_reduced.v1", "approval.revoked.v1",
    ]
    with pytest.raises(Conflict):
        await service.reinstate_approval(runtime, REGULATOR, reinstate("try again"))
    with pytest.raises(NotFound):
        await service.revoke_approval(
            runtime, REGULATOR, RevokeApproval(approval_id=str(uuid.uuid4()), reason="no such approval")
        )


# --- reactions to events ---------------------------------------------------------------------


async def test_failed_inspection_suspends_the_approval_and_a_redelivery_changes_nothing(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    granted = await granted_on_commitment(runtime, application(org))
    failed = events.InspectionFailedV1(
        inspection_id=str(uuid.uuid4()), target_uscc=org, target_kind="certification_body",
        findings="impartiality committee never met",
    )
    copy = record(failed)

    assert await runtime.consumer.handle(copy) == "handled"
    assert await runtime.consumer.handle(copy) == "duplicate"

    approval = await service.get_approval(runtime, REGULATOR, granted["approval_id"])
    assert approval["status"] == "suspended"
    suspensions = [h for h in approval["history"] if h["action"] == "suspended"]
    assert len(suspensions) == 1
    assert suspensions[0]["cause_event_id"] == Envelope.from_headers(copy.headers).id
    assert suspensions[0]["actor"] == "supervision"
    assert await types(runtime) == ["approval.granted.v1", "approval.suspended.v1"]
    assert (await outbox(runtime))[1]["body"]["fields"] == []


async def test_failed_inspection_of_an_enterprise_changes_no_approval(runtime: ServiceRuntime) -> None:
    org = new_uscc()
    granted = await granted_on_commitment(runtime, application(org))
    failed = events.InspectionFailedV1(
        inspection_id=str(uuid.uuid4()), target_uscc=org, target_kind="enterprise", findings="labelling",
    )
    assert await runtime.consumer.handle(record(failed)) == "handled"
    assert (await service.get_approval(runtime, REGULATOR, granted["approval_id"]))["status"] == "active"
    assert await types(runtime) == ["approval.granted.v1"]


async def test_lab_field_suspension_suspends_that_field_only(runtime: ServiceRuntime) -> None:
    lab = new_uscc()
    granted = await granted_on_commitment(runtime, lab_application(lab))
    required = events.LabFieldSuspensionRequiredV1(
        lab_uscc=lab, field="TL-EMC", reason="two action signals in a row", reference_ids=["round-1", "round-2"],
    )
    assert await runtime.consumer.handle(record(required)) == "handled"
    # A second, different event for the same field finds it suspended already: nothing more.
    assert await runtime.consumer.handle(record(required, offset=1)) == "handled"

    approval = await service.get_approval(runtime, REGULATOR, granted["approval_id"])
    assert approval["status"] == "active"
    assert approval["suspended_fields"] == ["TL-EMC"]
    assert approval["approved_fields"] == ["TL-ELEC"]
    emitted = await outbox(runtime)
    assert [e["type"] for e in emitted] == ["approval.granted.v1", "approval.suspended.v1"]
    assert emitted[1]["body"]["fields"] == ["TL-EMC"]
    assert emitted[1]["key"] == granted["approval_id"]


# --- records delivered together (the shared consumer's batch path) ------------------------


def failed_inspection(org: str, findings: str = "impartiality committee never met") -> events.InspectionFailedV1:
    return events.InspectionFailedV1(
        inspection_id=str(uuid.uuid4()), target_uscc=org, target_kind="certification_body", findings=findings
    )


async def approval_status(rt: ServiceRuntime, approval_id: str) -> str:
    return (await service.get_approval(rt, REGULATOR, approval_id))["status"]


async def inbox_ids(rt: ServiceRuntime) -> set[str]:
    async with rt.sessions() as session:
        return set((await session.scalars(sa.select(db.inbox.c.event_id))).all())


async def test_a_batch_is_handled_in_order_once_each_and_a_copy_inside_it_is_a_duplicate(runtime: ServiceRuntime) -> None:
    first, second = new_uscc(), new_uscc()
    a = await granted_on_commitment(runtime, application(first))
    b = await granted_on_commitment(runtime, application(second))
    copy = record(failed_inspection(first))
    batch = [copy, record(failed_inspection(second), offset=1), copy]

    assert await runtime.consumer.handle_batch(batch) == ["handled", "handled", "duplicate"]
    assert await runtime.consumer.handle_batch(batch) == ["duplicate", "duplicate", "duplicate"]

    assert await approval_status(runtime, a["approval_id"]) == "suspended"
    assert await approval_status(runtime, b["approval_id"]) == "suspended"
    assert len(await inbox_ids(runtime)) == 2
    history = (await service.get_approval(runtime, REGULATOR, a["approval_id"]))["history"]
    assert [h["action"] for h in history].count("suspended") == 1


async def test_a_failing_handler_holds_back_only_its_own_record(runtime: ServiceRuntime) -> None:
    """The batch's transaction is rolled back and its records handled one by one: the record
    before the failure is committed, the failing one is retried and finally dead-lettered on
    its own, and the one after it is handled on the next delivery."""
    before, after = new_uscc(), new_uscc()
    a = await granted_on_commitment(runtime, application(before))
    b = await granted_on_commitment(runtime, application(after))
    real = consumers.handlers(runtime)[events.InspectionFailedV1]

    async def breaks_on_boom(uow: UnitOfWork, event: Any) -> None:
        if event.findings == "boom":
            raise RuntimeError("this inspection result cannot be handled")
        await real(uow, event)

    failures = FailureLog(runtime.sessions, runtime.outbox.metadata.tables["consumer_failures"])
    consumer = EventConsumer(
        "approval", runtime.unit_of_work, runtime.relay, {events.InspectionFailedV1: breaks_on_boom}, failures,
        max_attempts=2,
    )
    dead: list[tuple[ConsumerRecord, str]] = []

    async def dead_letter(record: ConsumerRecord, error: str) -> None:
        dead.append((record, error))

    consumer.dead_letter = dead_letter  # type: ignore[method-assign]  # no broker in this test
    boom = record(failed_inspection(new_uscc(), findings="boom"), offset=1)
    batch = [record(failed_inspection(before)), boom, record(failed_inspection(after), offset=2)]

    with pytest.raises(RuntimeError):  # first attempt: the subscriber rewinds and redelivers
        await consumer.handle_batch(batch)
    assert await approval_status(runtime, a["approval_id"]) == "suspended"
    assert await approval_status(runtime, b["approval_id"]) == "active"
    assert dead == []

    assert await consumer.handle_batch(batch) == ["duplicate", "dead-lettered", "handled"]
    assert [r.offset for r, _ in dead] == [1]
    assert "cannot be handled" in dead[0][1]
    assert await approval_status(runtime, b["approval_id"]) == "suspended"
    assert len(await inbox_ids(runtime)) == 2  # the dead letter left no inbox row
