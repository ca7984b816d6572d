"""Approval over HTTP with the real broker: both paths, a breached commitment (DESIGN flow 3),
idempotent handling of a re-delivered event, and each object-level refusal.

Topics are shared by every test of the session, so each test uses organisations of its
own (random valid USCCs) and looks on the topic only for its own keys.

The services run on the real clock, and a decision deadline 20 working days from today may
fall in a year whose State Council holiday notice the service does not ship, which it
refuses. So every test here loads TEST-ONLY weekends-only calendars for this year and the
next where none is shipped (``factories.working_day_calendars_for_tests``, never the State
Council's), and runs the same on any day; the refusal itself is tested on a fixed clock.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import partial
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from conformity_shared import events, topics
from conformity_shared.auth import Role
from conformity_shared.clock import FixedClock
from conformity_shared.envelope import Envelope
from conformity_devstack import factories
from conformity_devstack.factories import new_uscc
from conformity_devstack.testing import Seen, TopicReader, envelope_as_owner, eventually, publisher_settings, running, token

from approval.app import create_app as approval_app
from approval.settings import ApprovalSettings
from approval.working_day_calendars import shipped_calendars, shipped_years

pytestmark = pytest.mark.integration

REGULATOR = token(Role.REGULATOR)


@pytest.fixture(autouse=True)
def calendars_for_this_year_and_next(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """TEST-ONLY calendars for the years around today that the service ships none for (see above)."""
    calendars = factories.working_day_calendars_for_tests(ApprovalSettings().clock().today(), shipped_years())
    monkeypatch.setenv("CONFORMITY_WORKING_DAY_CALENDARS", json.dumps(calendars))
    return calendars


# This module's applications: the factories' bodies, for these fields and staff numbers.
body_application = partial(factories.application, fields=["MS-QMS", "MS-EMS"], staff={"MS-QMS": 12, "MS-EMS": 10})
standard_application = partial(
    factories.standard_application,
    fields=["CCC-07", "CCC-09", "MS-QMS"],
    staff={"CCC-07": 15, "CCC-09": 11, "MS-QMS": 12},
)
lab_application = partial(factories.lab_application, staff={"TL-ELEC": 3, "TL-EMC": 2})


async def granted(client: httpx.AsyncClient, application: dict[str, Any], **headers: str) -> dict[str, Any]:
    answer = await client.post(
        "/applications", json=application, headers={**token(Role.AGENCY, org=application["organisation_uscc"]), **headers}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "granted", answer.text
    return answer.json()


async def accepted(client: httpx.AsyncClient, application: dict[str, Any]) -> dict[str, Any]:
    agency = token(Role.AGENCY, org=application["organisation_uscc"])
    submitted = await client.post("/applications", json=application, headers=agency)
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["status"] == "submitted"
    answer = await client.post(f"/applications/{submitted.json()['id']}/accept", headers=REGULATOR)
    assert answer.status_code == 200, answer.text
    return answer.json()


def of(seen: list[Seen], ce_type: str, key: str) -> list[Seen]:
    return [e for e in seen if e.type == ce_type and e.key == key]


# The shipped notices' days off and weekend days worked (the TEST-ONLY calendars add none).
SHIPPED_DAYS_OFF = frozenset().union(*(c.holidays for c in shipped_calendars()))
SHIPPED_DAYS_WORKED = frozenset().union(*(c.working_days for c in shipped_calendars()))


def is_working_day(day: dt.date, holidays: frozenset[dt.date] = frozenset()) -> bool:
    """Counted here independently of approval.domain.working_days: weekdays, less holidays, plus worked weekends."""
    if day in SHIPPED_DAYS_WORKED:
        return True
    return day.weekday() < 5 and day not in SHIPPED_DAYS_OFF | holidays


def working_days_after(start: dt.date, end: dt.date, holidays: frozenset[dt.date] = frozenset()) -> int:
    return sum(is_working_day(start + dt.timedelta(days=n), holidays) for n in range(1, (end - start).days + 1))


# --- the commitment path -------------------------------------------------------------------


async def test_commitment_path_granted_in_one_request_and_published_with_its_correlation_id(
    service_env, kafka: str
) -> None:
    org = new_uscc()
    correlation_id = f"apply-{uuid.uuid4()}"
    async with running(approval_app()) as client, TopicReader(kafka, topics.APPROVAL) as reader:
        answer = await granted(client, body_application(org), **{"X-Correlation-ID": correlation_id})

        approval = answer["approval"]
        assert answer["path"] == "commitment"
        assert approval["status"] == "active"
        assert approval["fields"] == ["MS-EMS", "MS-QMS"]
        assert approval["verifications"][0]["status"] == "scheduled"

        seen = await reader.until(lambda s: bool(of(s, "approval.granted.v1", approval["id"])))
        (event,) = of(seen, "approval.granted.v1", approval["id"])
        assert event.headers["ce_correlationid"] == correlation_id
        assert event.headers["ce_source"] == "/conformity/approval"
        assert event.headers["ce_subject"] == approval["id"]
        assert event.json()["organisation_uscc"] == org
        assert event.json()["fields"] == ["MS-EMS", "MS-QMS"]
        assert event.json()["path"] == "commitment"


async def test_refused_commitment_application_lists_every_failed_rule(service_env) -> None:
    org = new_uscc()
    agency = token(Role.AGENCY, org=org)
    application = factories.application(
        org, fields=["CCC-07", "CCC-20", "MS-QMS"], staff={"CCC-07": 12, "CCC-20": 10, "MS-QMS": 6}, capital=2_000_000
    )
    async with running(approval_app()) as client:
        answer = await client.post("/applications", json=application, headers=agency)

        assert answer.status_code == 422, answer.text
        refusal = answer.json()
        failed = {(r["rule"], r["field"]) for r in refusal["failed_rules"]}
        assert failed == {
            ("commitment_refused_for_high_risk_field", "requested_fields.CCC-07"),
            ("commitment_refused_for_high_risk_field", "requested_fields.CCC-20"),
            ("staff_below_minimum", "declared.staff_per_field.MS-QMS"),
            ("registered_capital_below_minimum", "declared.registered_capital_rmb"),
        }
        assert all(r["detail"] for r in refusal["failed_rules"])
        kept = (await client.get(f"/applications/{refusal['application_id']}", headers=agency)).json()
        assert kept["status"] == "refused"
        assert {(r["rule"], r["field"]) for r in kept["failed_rules"]} == failed
        assert (await client.get("/approvals", headers=agency)).json()["items"] == []


# --- the standard path ---------------------------------------------------------------------


async def test_standard_path_accepted_then_granted_in_part_with_reasons(service_env, kafka: str) -> None:
    org = new_uscc()
    async with running(approval_app()) as client, TopicReader(kafka, topics.APPROVAL) as reader:
        application = await accepted(client, standard_application(org))
        assert application["status"] == "accepted"

        answer = await client.post(
            f"/applications/{application['id']}/decision",
            headers=REGULATOR,
            json={"decision": "grant", "granted_fields": ["CCC-09", "MS-QMS"],
                  "reasons": ["CCC-07: the appliance test laboratory is not yet accredited"]},
        )

        assert answer.status_code == 200, answer.text
        decided = answer.json()
        assert decided["status"] == "granted"
        assert decided["decision_reasons"] == ["CCC-07: the appliance test laboratory is not yet accredited"]
        assert decided["approval"]["fields"] == ["CCC-09", "MS-QMS"]
        assert decided["approval"]["path"] == "standard"
        seen = await reader.until(lambda s: bool(of(s, "approval.granted.v1", decided["approval_id"])))
        (event,) = of(seen, "approval.granted.v1", decided["approval_id"])
        assert event.json()["fields"] == ["CCC-09", "MS-QMS"]
        assert event.json()["path"] == "standard"


async def test_standard_path_rejected_with_reasons(service_env) -> None:
    org = new_uscc()
    async with running(approval_app()) as client:
        application = await accepted(client, standard_application(org))
        without_reasons = await client.post(
            f"/applications/{application['id']}/decision", headers=REGULATOR, json={"decision": "reject"}
        )
        assert without_reasons.status_code == 422

        answer = await client.post(
            f"/applications/{application['id']}/decision",
            headers=REGULATOR,
            json={"decision": "reject", "reasons": ["the declared staff were found to be part-time",
                                                    "no impartiality committee"]},
        )

        assert answer.status_code == 200, answer.text
        decided = answer.json()
        assert decided["status"] == "rejected"
        assert decided["decision_reasons"] == ["the declared staff were found to be part-time", "no impartiality committee"]
        assert decided["approval_id"] is None
        seen_by_agency = await client.get(f"/applications/{application['id']}", headers=token(Role.AGENCY, org=org))
        assert seen_by_agency.json()["status"] == "rejected"


async def test_decision_deadline_is_20_working_days_after_acceptance(service_env) -> None:
    org = new_uscc()
    async with running(approval_app()) as client:
        application = await accepted(client, standard_application(org))

    accepted_on = dt.date.fromisoformat(application["accepted_on"])
    due = dt.date.fromisoformat(application["decision_due"])
    assert is_working_day(due)
    assert working_days_after(accepted_on, due) == 20
    assert application["working_days_left"] == 20


async def test_a_configured_public_holiday_moves_the_decision_deadline(service_env, monkeypatch) -> None:
    today = ApprovalSettings().clock().today()  # the regulator's day, on which the application is accepted
    holiday = next(today + dt.timedelta(days=n) for n in range(1, 15) if is_working_day(today + dt.timedelta(days=n)))
    monkeypatch.setenv("CONFORMITY_PUBLIC_HOLIDAYS", json.dumps([holiday.isoformat()]))
    async with running(approval_app()) as client:
        application = await accepted(client, standard_application(new_uscc()))

    accepted_on = dt.date.fromisoformat(application["accepted_on"])
    due = dt.date.fromisoformat(application["decision_due"])
    assert working_days_after(accepted_on, due, frozenset({holiday})) == 20
    assert working_days_after(accepted_on, due) == 21  # the holiday would have been a working day


async def test_acceptance_into_a_year_without_a_calendar_is_refused_until_the_regulator_loads_it(
    service_env, monkeypatch
) -> None:
    year = max(shipped_years()) + 1  # the first year the service ships no calendar for
    mid_december = dt.datetime(year - 1, 12, 14, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
    org = new_uscc()
    monkeypatch.setenv("CONFORMITY_WORKING_DAY_CALENDARS", "[]")
    app = approval_app()
    app.state.runtime.clock = FixedClock(instant=mid_december)
    async with running(app) as client:
        submitted = await client.post("/applications", json=standard_application(org),
                                      headers=token(Role.AGENCY, org=org))
        refused = await client.post(f"/applications/{submitted.json()['id']}/accept", headers=REGULATOR)
        waiting = await client.get(f"/applications/{submitted.json()['id']}", headers=REGULATOR)

    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "decision_due"
    assert [r["rule"] for r in refused.json()["failed_rules"]] == ["working_day_calendar_missing"]
    assert str(year) in refused.json()["detail"]
    assert waiting.json()["status"] == "submitted"

    # The regulator loads the year's calendar through settings, no code change: here a TEST-ONLY
    # one (New Year's Day off only), not the State Council's notice for that year.
    new_year = dt.date(year, 1, 1)
    test_only = {"year": year, "holidays": [new_year.isoformat()], "working_days": [],
                 "source": "TEST ONLY: not the State Council's notice"}
    monkeypatch.setenv("CONFORMITY_WORKING_DAY_CALENDARS", json.dumps([test_only]))
    app = approval_app()
    app.state.runtime.clock = FixedClock(instant=mid_december)
    async with running(app) as client:
        accepted_now = await client.post(f"/applications/{submitted.json()['id']}/accept", headers=REGULATOR)

    assert accepted_now.status_code == 200, accepted_now.text
    due = dt.date.fromisoformat(accepted_now.json()["decision_due"])
    assert due.year == year
    assert working_days_after(mid_december.date(), due, frozenset({new_year})) == 20
    assert is_working_day(due)


async def test_overdue_lists_an_undecided_application_after_its_deadline(service_env) -> None:
    org = new_uscc()
    async with running(approval_app()) as client:
        application = await accepted(client, standard_application(org))
        due = dt.date.fromisoformat(application["decision_due"])

        on_time = (await client.get("/applications/overdue", params={"as_of": due.isoformat()}, headers=REGULATOR)).json()
        late = (
            await client.get("/applications/overdue", params={"as_of": (due + dt.timedelta(days=1)).isoformat()},
                             headers=REGULATOR)
        ).json()

    assert application["id"] not in {a["id"] for a in on_time["applications"]}
    assert application["id"] in {a["id"] for a in late["applications"]}


# --- flow 3: a breached commitment ----------------------------------------------------------


async def test_breached_commitment_publishes_the_breach_then_the_revocation(service_env, kafka: str) -> None:
    org, inspector_id = new_uscc(), f"insp-{uuid.uuid4().hex[:8]}"
    correlation_id = f"breach-{uuid.uuid4()}"
    async with running(approval_app()) as client, TopicReader(kafka, topics.APPROVAL) as reader:
        approval = (await granted(client, body_application(org)))["approval"]
        verification_id = approval["verifications"][0]["id"]
        assigned = await client.post(
            f"/verifications/{verification_id}/assign", headers=REGULATOR, json={"inspector_id": inspector_id}
        )
        assert assigned.status_code == 200, assigned.text

        recorded = await client.post(
            f"/verifications/{verification_id}/result",
            headers={**token(Role.INSPECTOR, inspector_id=inspector_id), "X-Correlation-ID": correlation_id},
            json={"outcome": "breached", "findings": "4 of the 12 declared auditors are part-time"},
        )

        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["status"] == "breached"
        seen = await reader.until(lambda s: bool(of(s, "approval.revoked.v1", approval["id"])))
        mine = [e for e in seen if e.key == approval["id"]]
        assert [e.type for e in mine] == [
            "approval.granted.v1", "approval.commitment_breached.v1", "approval.revoked.v1",
        ]
        breach, revocation = mine[1], mine[2]
        assert breach.json()["verification_id"] == verification_id
        assert breach.json()["findings"] == "4 of the 12 declared auditors are part-time"
        assert breach.headers["ce_correlationid"] == revocation.headers["ce_correlationid"] == correlation_id
        assert revocation.json()["organisation_uscc"] == org

        now = (await client.get(f"/approvals/{approval['id']}", headers=REGULATOR)).json()
        assert now["status"] == "revoked"
        assert now["history"][-1]["action"] == "revoked"
        assert now["history"][-1]["actor"] == f"inspector:{inspector_id}"
        sanctions = (await client.get("/credit-sanctions", params={"organisation_uscc": org}, headers=REGULATOR)).json()
        assert [s["verification_id"] for s in sanctions["items"]] == [verification_id]


# --- reactions to events, idempotent -----------------------------------------------------------


async def test_redelivered_inspection_failure_suspends_once(service_env, kafka: str) -> None:
    org = new_uscc()
    app = approval_app()
    async with running(app) as client, TopicReader(kafka, topics.APPROVAL) as reader:
        approval = (await granted(client, body_application(org)))["approval"]
        inspection = f"insp-{uuid.uuid4()}"
        failed = events.InspectionFailedV1(
            inspection_id=inspection, target_uscc=org, target_kind="certification_body",
            findings="the impartiality committee never met",
        )
        envelope = Envelope.for_event(failed, "/conformity/supervision")
        # A later event on the same key (so the same partition), handled only after the copies
        # before it; it concerns an organisation with no approval, so it changes nothing.
        later = events.InspectionFailedV1(
            inspection_id=inspection, target_uscc=new_uscc(), target_kind="certification_body", findings="sentinel",
        )
        sentinel = envelope_as_owner(later)
        producer = AIOKafkaProducer(bootstrap_servers=kafka, **publisher_settings(topics.SUPERVISION))
        await producer.start()
        try:
            for _ in range(2):  # the same event (same ce_id) twice, as after a producer retry or a replay
                await producer.send_and_wait(
                    topics.SUPERVISION, failed.model_dump_json().encode(), key=inspection.encode(),
                    headers=envelope.headers(),
                )
            await producer.send_and_wait(
                topics.SUPERVISION, later.model_dump_json().encode(), key=inspection.encode(), headers=sentinel.headers(),
            )
        finally:
            await producer.stop()

        await eventually(lambda: _handled(app.state.runtime, sentinel.id), timeout=30)
        await reader.until(lambda s: bool(of(s, "approval.suspended.v1", approval["id"])))
        await reader.settle(1.0)

        suspensions = of(reader.seen, "approval.suspended.v1", approval["id"])
        assert len(suspensions) == 1
        assert suspensions[0].headers["ce_causationid"] == envelope.id
        assert suspensions[0].headers["ce_correlationid"] == envelope.correlation_id
        assert suspensions[0].json()["fields"] == []
        now = (await client.get(f"/approvals/{approval['id']}", headers=REGULATOR)).json()
        assert now["status"] == "suspended"
        history = [h for h in now["history"] if h["action"] == "suspended"]
        assert len(history) == 1
        assert history[0]["cause_event_id"] == envelope.id


async def test_lab_field_suspension_required_suspends_that_field_only(service_env, kafka: str) -> None:
    lab = new_uscc()
    app = approval_app()
    async with running(app) as client, TopicReader(kafka, topics.APPROVAL) as reader:
        approval = (await granted(client, lab_application(lab)))["approval"]
        required = events.LabFieldSuspensionRequiredV1(
            lab_uscc=lab, field="TL-EMC", reason="two action signals in a row", reference_ids=["r-1", "r-2"],
        )
        envelope = Envelope.for_event(required, "/conformity/proficiency")
        producer = AIOKafkaProducer(bootstrap_servers=kafka, **publisher_settings(topics.PROFICIENCY))
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.PROFICIENCY, required.model_dump_json().encode(), key=lab.encode(), headers=envelope.headers()
            )
        finally:
            await producer.stop()

        seen = await reader.until(lambda s: bool(of(s, "approval.suspended.v1", approval["id"])))
        assert of(seen, "approval.suspended.v1", approval["id"])[0].json()["fields"] == ["TL-EMC"]
        now = (await client.get(f"/approvals/{approval['id']}", headers=token(Role.AGENCY, org=lab))).json()
        assert now["status"] == "active"
        assert now["suspended_fields"] == ["TL-EMC"]
        assert now["approved_fields"] == ["TL-ELEC"]


# --- object-level authorization -------------------------------------------------------------------


async def test_another_agencys_application_and_approval_answer_404(service_env) -> None:
    org, other = new_uscc(), new_uscc()
    async with running(approval_app()) as client:
        answer = await granted(client, body_application(org))
        stranger = token(Role.AGENCY, org=other)

        for path in (f"/applications/{answer['id']}", f"/approvals/{answer['approval_id']}"):
            refused = await client.get(path, headers=stranger)
            assert refused.status_code == 404, path
            missing = await client.get(path.rsplit("/", 1)[0] + f"/{uuid.uuid4()}", headers=stranger)
            assert missing.status_code == 404
            assert refused.json().keys() == missing.json().keys()  # indistinguishable from a missing one
        assert (await client.get("/applications", headers=stranger)).json()["items"] == []
        assert (await client.get(f"/applications/{answer['id']}", headers=token(Role.AGENCY, org=org))).status_code == 200


async def test_an_agency_may_not_decide(service_env) -> None:
    org = new_uscc()
    agency = token(Role.AGENCY, org=org)
    async with running(approval_app()) as client:
        application = await accepted(client, standard_application(org))

        refused = await client.post(
            f"/applications/{application['id']}/decision", headers=agency, json={"decision": "grant"}
        )

        assert refused.status_code == 403
        assert (await client.get(f"/applications/{application['id']}", headers=agency)).json()["status"] == "accepted"


async def test_an_inspector_not_assigned_may_not_record_the_verification(service_env) -> None:
    assigned, other = f"insp-{uuid.uuid4().hex[:8]}", f"insp-{uuid.uuid4().hex[:8]}"
    async with running(approval_app()) as client:
        approval = (await granted(client, body_application(new_uscc())))["approval"]
        verification_id = approval["verifications"][0]["id"]
        await client.post(f"/verifications/{verification_id}/assign", headers=REGULATOR, json={"inspector_id": assigned})

        refused = await client.post(
            f"/verifications/{verification_id}/result",
            headers=token(Role.INSPECTOR, inspector_id=other),
            json={"outcome": "breached", "findings": "made up"},
        )

        assert refused.status_code == 403
        now = (await client.get(f"/approvals/{approval['id']}", headers=REGULATOR)).json()
        assert now["status"] == "active"
        assert now["verifications"][0]["status"] == "scheduled"


async def _handled(runtime, event_id: str) -> bool:  # noqa: ANN001
    async with runtime.sessions() as session:
        found = await session.scalar(sa.select(runtime.inbox.c.event_id).where(runtime.inbox.c.event_id == event_id))
    return found is not None
