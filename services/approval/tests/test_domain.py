"""Approval rules: the catalogue, the application check, both paths, the lifecycle and
post-approval verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from conformity_shared.errors import Conflict, DomainError
from conformity_devstack import factories

from approval.domain import (
    Application,
    ApplicationRefused,
    ApplicationStatus,
    Approval,
    ApprovalAction,
    ApprovalStatus,
    Catalogue,
    DecisionRefused,
    Declared,
    IllegalTransition,
    InvalidConfiguration,
    Kind,
    Risk,
    Rule,
    Rules,
    ScopeField,
    Verification,
    VerificationStatus,
    WorkingCalendar,
    WorkingDayCalendarMissing,
    check_application,
    overdue_applications,
)
from approval.working_day_calendars import shipped_calendars

BODY = "91350100M000100Y43"
LAB = "911101054JURQ2830Y"
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
DAY0 = dt.date(2026, 3, 2)  # T0's day in Beijing
CATALOGUE = Catalogue.default()
RULES = Rules()
CALENDAR = WorkingCalendar.of(shipped_calendars())  # the State Council's notices shipped as data


def application(*, id: str = "app-1", **overrides: Any) -> Application:  # noqa: A002
    """Submitted at T0 from the factories' body (a certification body meeting every rule for
    MS-QMS on the commitment path); ``overrides`` replace top-level keys."""
    return Application.submit(id=id, at=T0, **factories.application(BODY) | overrides)


def lab_application(**overrides: Any) -> Application:
    """A testing lab's application (TL-ELEC and TL-EMC) from the factories' body."""
    return application(**factories.lab_application(LAB) | overrides)


def codes(failures: list) -> set[tuple[str, str]]:
    return {(f.code.value, f.field) for f in failures}


def granted(app: Application | None = None) -> tuple[Approval, Verification]:
    return (app or application()).grant_on_the_spot(
        CATALOGUE, RULES, approval_id="apr-1", verification_id="ver-1", at=T0, on=DAY0
    )


def lab_approval() -> Approval:
    approval, _ = granted(lab_application())
    approval.history.clear()
    return approval


# --- the catalogue -------------------------------------------------------------------


def test_default_catalogue_has_ccc_management_system_and_testing_fields() -> None:
    assert CATALOGUE["CCC-07"].risk is Risk.HIGH  # household appliances
    assert CATALOGUE["CCC-01"].risk is Risk.HIGH  # wires and cables
    assert CATALOGUE["CCC-11"].risk is Risk.HIGH  # motor vehicles
    assert CATALOGUE["CCC-20"].risk is Risk.HIGH  # children's products
    for code in ("MS-QMS", "MS-EMS", "MS-OHSMS"):
        assert CATALOGUE[code].risk is Risk.LOW
        assert CATALOGUE[code].kind is Kind.CERTIFICATION_BODY
    for code in ("TL-FOOD", "TL-ELEC", "TL-EMC"):
        assert CATALOGUE[code].kind is Kind.TESTING_LAB
    assert {f.code for f in CATALOGUE.for_kind(Kind.TESTING_LAB)} >= {"TL-FOOD", "TL-ELEC", "TL-EMC"}
    assert "CCC-07" in {f.code for f in CATALOGUE.high_risk()}


def test_catalogue_is_data_that_can_be_overridden() -> None:
    stricter = CATALOGUE.replacing(
        ScopeField("MS-QMS", "Quality management systems", Risk.HIGH, Kind.CERTIFICATION_BODY, {"management_system"})
    )
    assert stricter["MS-QMS"].risk is Risk.HIGH
    assert CATALOGUE["MS-QMS"].risk is Risk.LOW  # the default is untouched
    assert codes(check_application(application(), stricter, RULES)) == {
        ("commitment_refused_for_high_risk_field", "requested_fields.MS-QMS")
    }


def test_catalogue_from_settings_records() -> None:
    catalogue = Catalogue.from_records([{"code": "X-1", "name": "Field X", "risk": "low", "kind": "testing_lab"}])
    assert len(catalogue) == 1 and catalogue["X-1"].kind is Kind.TESTING_LAB
    with pytest.raises(InvalidConfiguration):
        Catalogue.from_records([{"code": "X-1", "name": "Field X", "risk": "medium", "kind": "testing_lab"}])


def test_each_certification_field_names_the_schemes_it_admits_and_test_fields_none() -> None:
    assert CATALOGUE["CCC-07"].schemes == {"CCC"}
    assert CATALOGUE["MS-QMS"].schemes == {"management_system"}
    assert CATALOGUE["VP-GEN"].schemes == {"voluntary_product"}
    assert CATALOGUE["SV-ASS"].schemes == {"service"}
    for field in CATALOGUE:
        prefix = field.code.split("-")[0]
        expected = {"CCC": {"CCC"}, "MS": {"management_system"}, "VP": {"voluntary_product"},
                    "SV": {"service"}, "TL": set()}[prefix]
        assert field.schemes == expected, field.code
    assert CATALOGUE.schemes_of(["MS-QMS", "CCC-07"]) == {"CCC-07": ["CCC"], "MS-QMS": ["management_system"]}


def test_catalogue_records_name_the_schemes_a_field_admits() -> None:
    catalogue = Catalogue.from_records([
        {"code": "X-1", "name": "Field X", "risk": "low", "kind": "certification_body",
         "schemes": ["voluntary_product", "service"]},
    ])
    assert catalogue["X-1"].schemes == {"voluntary_product", "service"}
    refused = [
        ({"kind": "certification_body", "schemes": ["organic"]}, "organic"),
        ({"kind": "certification_body"}, "names the schemes"),
        ({"kind": "testing_lab", "schemes": ["CCC"]}, "test field"),
    ]
    for record, message in refused:
        with pytest.raises(InvalidConfiguration, match=message):
            Catalogue.from_records([{"code": "X-1", "name": "Field X", "risk": "low", **record}])


def test_catalogue_refuses_a_field_listed_twice() -> None:
    field = ScopeField("X-1", "Field X", Risk.LOW, Kind.TESTING_LAB)
    with pytest.raises(InvalidConfiguration, match="twice"):
        Catalogue([field, field])


# --- the rules -----------------------------------------------------------------------


def test_complete_commitment_application_meets_every_rule() -> None:
    assert check_application(application(), CATALOGUE, RULES) == []


def test_commitment_path_refused_for_high_risk_field() -> None:
    app = application(requested_fields=["CCC-07"], declared={**application().declared.as_dict(),
                                                              "staff_per_field": {"CCC-07": 15}})
    failures = check_application(app, CATALOGUE, RULES)
    assert codes(failures) == {("commitment_refused_for_high_risk_field", "requested_fields.CCC-07")}
    assert "standard path" in failures[0].message


def test_high_risk_field_may_apply_on_the_standard_path() -> None:
    app = application(path="standard", requested_fields=["CCC-07"],
                      declared={**application().declared.as_dict(), "staff_per_field": {"CCC-07": 15}})
    assert check_application(app, CATALOGUE, RULES) == []


def test_high_risk_rule_can_be_switched_off() -> None:
    app = application(requested_fields=["CCC-07"], declared={**application().declared.as_dict(),
                                                              "staff_per_field": {"CCC-07": 15}})
    assert check_application(app, CATALOGUE, Rules(high_risk_refuses_commitment=False)) == []


@pytest.mark.parametrize(("staff", "passes"), [(9, False), (10, True), (30, True)])
def test_certification_body_needs_10_full_time_staff_per_field(staff: int, passes: bool) -> None:
    app = application(requested_fields=["MS-QMS", "MS-EMS"], declared={
        **application().declared.as_dict(), "staff_per_field": {"MS-QMS": 12, "MS-EMS": staff}})
    failures = check_application(app, CATALOGUE, RULES)
    assert (failures == []) is passes
    if not passes:
        assert codes(failures) == {("staff_below_minimum", "declared.staff_per_field.MS-EMS")}
        assert "at least 10" in failures[0].message


@pytest.mark.parametrize(("capital", "passes"), [(2_999_999, False), (3_000_000, True)])
def test_certification_body_needs_registered_capital_of_3_million(capital: int, passes: bool) -> None:
    app = application(declared={**application().declared.as_dict(), "registered_capital_rmb": capital})
    failures = check_application(app, CATALOGUE, RULES)
    assert (failures == []) is passes
    if not passes:
        assert codes(failures) == {("registered_capital_below_minimum", "declared.registered_capital_rmb")}


def test_thresholds_are_configurable() -> None:
    lenient = Rules(min_staff_per_field=5, min_registered_capital_rmb=1_000_000)
    app = application(declared={**application().declared.as_dict(),
                                "staff_per_field": {"MS-QMS": 5}, "registered_capital_rmb": 1_000_000})
    assert check_application(app, CATALOGUE, lenient) == []
    assert len(check_application(app, CATALOGUE, RULES)) == 2


def test_rules_refuse_impossible_settings() -> None:
    with pytest.raises(InvalidConfiguration):
        Rules(min_staff_per_field=-1)
    with pytest.raises(InvalidConfiguration):
        Rules(standard_decision_working_days=0)


def test_lab_needs_no_registered_capital_nor_ten_staff() -> None:
    assert check_application(lab_application(), CATALOGUE, RULES) == []


def test_lab_needs_a_qualified_person_in_each_field() -> None:
    app = lab_application(declared={**lab_application().declared.as_dict(), "staff_per_field": {"TL-ELEC": 0}})
    assert codes(check_application(app, CATALOGUE, RULES)) == {
        ("staff_below_minimum", "declared.staff_per_field.TL-ELEC"),
        ("staff_missing", "declared.staff_per_field.TL-EMC"),
    }


def test_commitment_path_needs_signed_commitment_text() -> None:
    for text in (None, "", "   "):
        assert codes(check_application(application(commitment_text=text), CATALOGUE, RULES)) == {
            ("commitment_text_missing", "commitment_text")
        }
    assert check_application(application(path="standard", commitment_text=None), CATALOGUE, RULES) == []


def test_premises_and_management_system_must_be_declared() -> None:
    app = application(declared={**application().declared.as_dict(), "premises": "", "management_system": None})
    assert codes(check_application(app, CATALOGUE, RULES)) == {
        ("premises_missing", "declared.premises"),
        ("management_system_missing", "declared.management_system"),
    }


def test_requested_field_must_be_in_the_catalogue() -> None:
    app = application(requested_fields=["MS-QMS", "XX-99"],
                      declared={**application().declared.as_dict(), "staff_per_field": {"MS-QMS": 12, "XX-99": 12}})
    assert codes(check_application(app, CATALOGUE, RULES)) == {("field_unknown", "requested_fields.XX-99")}


def test_requested_field_must_fit_the_applicants_kind() -> None:
    app = lab_application(requested_fields=["MS-QMS"], declared={
        **lab_application().declared.as_dict(), "staff_per_field": {"MS-QMS": 3}})
    failures = check_application(app, CATALOGUE, RULES)
    assert codes(failures) == {("field_kind_mismatch", "requested_fields.MS-QMS")}


def test_at_least_one_field_must_be_requested() -> None:
    assert codes(check_application(application(requested_fields=[]), CATALOGUE, RULES)) == {
        ("fields_missing", "requested_fields")
    }


def test_organisation_must_have_a_valid_uscc_and_a_name() -> None:
    app = application(organisation_uscc="91350100M000100Y44", organisation_name=" ")
    assert codes(check_application(app, CATALOGUE, RULES)) == {
        ("organisation_uscc_invalid", "organisation_uscc"),
        ("organisation_name_missing", "organisation_name"),
    }


def test_kind_and_path_must_be_known() -> None:
    with pytest.raises(DomainError, match="kind must be one of"):
        application(kind="enterprise")
    with pytest.raises(DomainError, match="path must be one of"):
        application(path="express")


def test_refusal_lists_every_failed_rule() -> None:
    app = application(
        requested_fields=["CCC-07", "MS-QMS", "TL-FOOD", "XX-99"],
        declared={"staff_per_field": {"CCC-07": 9, "MS-QMS": 12}, "registered_capital_rmb": 1_000_000},
        commitment_text=None,
    )
    failures = check_application(app, CATALOGUE, RULES)
    assert codes(failures) == {
        ("commitment_refused_for_high_risk_field", "requested_fields.CCC-07"),
        ("field_kind_mismatch", "requested_fields.TL-FOOD"),
        ("commitment_refused_for_high_risk_field", "requested_fields.TL-FOOD"),
        ("field_unknown", "requested_fields.XX-99"),
        ("commitment_text_missing", "commitment_text"),
        ("premises_missing", "declared.premises"),
        ("management_system_missing", "declared.management_system"),
        ("staff_below_minimum", "declared.staff_per_field.CCC-07"),
        ("staff_missing", "declared.staff_per_field.TL-FOOD"),
        ("staff_missing", "declared.staff_per_field.XX-99"),
        ("registered_capital_below_minimum", "declared.registered_capital_rmb"),
    }
    assert len(failures) == 11
    with pytest.raises(ApplicationRefused) as refused:
        app.grant_on_the_spot(CATALOGUE, RULES, approval_id="apr-1", verification_id="ver-1", at=T0, on=DAY0)
    assert len(refused.value.rules) == 11
    assert refused.value.status_code == 422
    assert {"rule": "staff_below_minimum", "field": "declared.staff_per_field.CCC-07",
            "detail": "CCC-07 needs at least 10 full-time qualified staff, 9 declared"} in refused.value.rules


def test_duplicate_requested_fields_count_once() -> None:
    assert application(requested_fields=["MS-QMS", "MS-QMS"]).requested_fields == ("MS-QMS",)


# --- the commitment path ---------------------------------------------------------------


def test_commitment_application_granted_on_the_spot() -> None:
    app = application(requested_fields=["MS-QMS", "MS-EMS"], declared={
        **application().declared.as_dict(), "staff_per_field": {"MS-QMS": 12, "MS-EMS": 10}})
    approval, _ = granted(app)
    assert app.status is ApplicationStatus.GRANTED
    assert app.approval_id == approval.id == "apr-1"
    assert approval.status is ApprovalStatus.ACTIVE
    assert approval.approved_fields() == {"MS-QMS", "MS-EMS"}
    assert approval.organisation_uscc == BODY and approval.application_id == app.id
    [entry] = approval.history
    assert (entry.action, entry.from_status, entry.to_status, entry.at) == (
        ApprovalAction.GRANTED, None, ApprovalStatus.ACTIVE, T0)
    assert entry.fields == ("MS-EMS", "MS-QMS")


def test_commitment_grant_schedules_post_approval_verification() -> None:
    _, verification = granted()
    assert verification.status is VerificationStatus.SCHEDULED
    assert verification.approval_id == "apr-1" and verification.organisation_uscc == BODY
    assert verification.due == dt.date(2026, 5, 31)  # 90 days after 2 March

    _, verification = application().grant_on_the_spot(
        CATALOGUE, Rules(verification_days=30), approval_id="apr-2", verification_id="ver-2", at=T0, on=DAY0)
    assert verification.due == dt.date(2026, 4, 1)


def test_refused_commitment_application_is_marked_refused() -> None:
    app = application(declared={**application().declared.as_dict(), "registered_capital_rmb": 100})
    with pytest.raises(ApplicationRefused):
        granted(app)
    assert app.status is ApplicationStatus.REFUSED
    assert [f.code for f in app.failed_rules] == [Rule.REGISTERED_CAPITAL_BELOW_MINIMUM]
    assert app.approval_id is None


def test_standard_application_is_not_granted_on_the_spot() -> None:
    with pytest.raises(IllegalTransition, match="standard path"):
        granted(application(path="standard"))


def test_application_is_granted_on_the_spot_once() -> None:
    app = application()
    granted(app)
    with pytest.raises(IllegalTransition):
        granted(app)


# --- the standard path ---------------------------------------------------------------


def accepted(**overrides: Any) -> Application:
    app = application(path="standard", commitment_text=None, **overrides)
    app.accept(CATALOGUE, RULES, on=dt.date(2026, 3, 2), at=T0, calendar=CALENDAR)
    return app


def test_standard_application_decision_due_20_working_days_after_acceptance() -> None:
    app = accepted()
    assert app.status is ApplicationStatus.ACCEPTED
    assert app.accepted_on == dt.date(2026, 3, 2)
    assert app.decision_due == dt.date(2026, 3, 30)


def test_decision_deadline_skips_public_holidays() -> None:
    app = application(path="standard")
    # Accepted 24 September 2026: 28-30 September (3), Mid-Autumn and National Day off,
    # 8-10 October with the worked Saturday (6), then 12-29 October (14) make 20.
    due = app.accept(CATALOGUE, RULES, on=dt.date(2026, 9, 24), at=T0, calendar=CALENDAR)
    assert due == dt.date(2026, 10, 29)
    assert app.working_days_left(dt.date(2026, 9, 24), CALENDAR) == 20


def test_a_deadline_into_a_year_without_a_calendar_leaves_the_application_submitted() -> None:
    app = application(path="standard", commitment_text=None)
    with pytest.raises(WorkingDayCalendarMissing) as refused:
        app.accept(CATALOGUE, RULES, on=dt.date(2026, 12, 14), at=T0, calendar=CALENDAR)
    assert refused.value.year == 2027
    assert refused.value.field == "decision_due"
    assert "20 working days after acceptance on 2026-12-14" in refused.value.rules[0]["detail"]
    assert app.status is ApplicationStatus.SUBMITTED
    assert app.accepted_on is None and app.decision_due is None and app.failed_rules == []


def test_incomplete_standard_application_is_not_accepted() -> None:
    app = application(path="standard", declared={**application().declared.as_dict(), "premises": None,
                                                 "staff_per_field": {}})
    with pytest.raises(ApplicationRefused, match="incomplete") as refused:
        app.accept(CATALOGUE, RULES, on=dt.date(2026, 3, 2), at=T0, calendar=CALENDAR)
    assert {r["rule"] for r in refused.value.rules} == {"premises_missing", "staff_missing"}
    assert app.status is ApplicationStatus.REFUSED and app.decision_due is None


def test_acceptance_keeps_threshold_failures_for_the_reviewer() -> None:
    app = accepted(declared={**application().declared.as_dict(), "registered_capital_rmb": 1_000_000})
    assert app.status is ApplicationStatus.ACCEPTED
    assert [f.code for f in app.failed_rules] == [Rule.REGISTERED_CAPITAL_BELOW_MINIMUM]


def test_regulator_grants_the_requested_fields() -> None:
    app = accepted()
    approval = app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")
    assert app.status is ApplicationStatus.GRANTED and app.decided_by == "regulator:wang"
    assert approval.approved_fields() == {"MS-QMS"}
    assert approval.history[0].actor == "regulator:wang"


def test_regulator_may_grant_a_subset_of_the_requested_fields_with_reasons() -> None:
    app = accepted(requested_fields=["MS-QMS", "MS-EMS"], declared={
        **application().declared.as_dict(), "staff_per_field": {"MS-QMS": 12, "MS-EMS": 4}})
    approval = app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang",
                         reasons=["MS-EMS: 4 auditors, 10 required"])
    assert approval.fields == {"MS-QMS"}
    assert app.decision_reasons == ["MS-EMS: 4 auditors, 10 required"]


def test_partial_grant_needs_reasons_for_the_fields_left_out() -> None:
    app = accepted(requested_fields=["MS-QMS", "MS-EMS"], declared={
        **application().declared.as_dict(), "staff_per_field": {"MS-QMS": 12, "MS-EMS": 12}})
    with pytest.raises(DomainError, match="needs reasons"):
        app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")
    assert app.status is ApplicationStatus.ACCEPTED


def test_grant_refused_for_a_field_that_fails_the_rules() -> None:
    app = accepted(declared={**application().declared.as_dict(), "staff_per_field": {"MS-QMS": 4}})
    with pytest.raises(DecisionRefused) as refused:
        app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")
    assert refused.value.rules[0]["rule"] == "staff_below_minimum"
    assert app.status is ApplicationStatus.ACCEPTED


def test_grant_refused_for_a_field_that_was_not_requested() -> None:
    app = accepted()
    with pytest.raises(DecisionRefused) as refused:
        app.grant(["MS-QMS", "MS-EMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")
    assert {r["rule"] for r in refused.value.rules} == {"field_not_requested", "staff_missing"}


def test_rejection_states_its_reasons() -> None:
    app = accepted()
    with pytest.raises(DomainError, match="at least one reason"):
        app.reject([" "], at=T0, actor="regulator:wang")
    app.reject(["premises do not match the declaration"], at=T0, actor="regulator:wang")
    assert app.status is ApplicationStatus.REJECTED
    assert app.decision_reasons == ["premises do not match the declaration"]


def test_application_is_decided_once() -> None:
    app = accepted()
    app.reject(["no"], at=T0, actor="regulator:wang")
    with pytest.raises(IllegalTransition) as illegal:
        app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")
    assert illegal.value.status_code == 409


def test_standard_application_is_decided_only_after_acceptance() -> None:
    app = application(path="standard")
    with pytest.raises(IllegalTransition, match="only an? accepted application"):
        app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")


def test_commitment_application_is_not_accepted_for_review() -> None:
    with pytest.raises(IllegalTransition):
        application().accept(CATALOGUE, RULES, on=dt.date(2026, 3, 2), at=T0, calendar=CALENDAR)


def test_application_overdue_only_after_its_decision_deadline() -> None:
    app = accepted()
    assert not app.is_overdue(dt.date(2026, 3, 30))
    assert app.is_overdue(dt.date(2026, 3, 31))
    assert overdue_applications([app, application()], dt.date(2026, 3, 31)) == [app]
    app.reject(["no"], at=T0, actor="regulator:wang")
    assert not app.is_overdue(dt.date(2026, 4, 30))


# --- the approval lifecycle ------------------------------------------------------------


def test_suspended_approval_has_no_approved_fields() -> None:
    approval, _ = granted()
    approval.suspend("inspection failed", at=T0)
    assert approval.status is ApprovalStatus.SUSPENDED
    assert approval.approved_fields() == frozenset()
    assert not approval.is_approved_for("MS-QMS")


def test_lab_field_suspended_while_the_rest_stays_active() -> None:
    approval = lab_approval()
    approval.suspend("two action signals in a row", at=T0, fields=["TL-EMC"], cause_event_id="evt-1")
    assert approval.status is ApprovalStatus.ACTIVE
    assert approval.suspended_fields == {"TL-EMC"}
    assert approval.approved_fields() == {"TL-ELEC"}
    [entry] = approval.history
    assert (entry.action, entry.from_status, entry.to_status, entry.fields) == (
        ApprovalAction.SUSPENDED, ApprovalStatus.ACTIVE, ApprovalStatus.ACTIVE, ("TL-EMC",))


def test_reinstating_a_suspended_field() -> None:
    approval = lab_approval()
    approval.suspend("blind sample failed", at=T0, fields=["TL-EMC"])
    approval.reinstate("corrective action verified", at=T0, fields=["TL-EMC"])
    assert approval.approved_fields() == {"TL-ELEC", "TL-EMC"}


def test_reinstating_the_whole_approval_keeps_field_suspensions() -> None:
    approval = lab_approval()
    approval.suspend("blind sample failed", at=T0, fields=["TL-EMC"])
    approval.suspend("inspection failed", at=T0)
    approval.reinstate("rectified", at=T0)
    assert approval.status is ApprovalStatus.ACTIVE
    assert approval.approved_fields() == {"TL-ELEC"}


def test_scope_reduction_removes_fields_and_their_suspensions() -> None:
    approval = lab_approval()
    approval.suspend("blind sample failed", at=T0, fields=["TL-EMC"])
    entry = approval.reduce_scope(["TL-EMC"], "no longer competent", at=T0, actor="regulator:wang")
    assert approval.fields == {"TL-ELEC"} and approval.suspended_fields == frozenset()
    assert entry.action is ApprovalAction.SCOPE_REDUCED and entry.fields == ("TL-EMC",)


def test_removing_every_field_is_a_revocation_not_a_scope_reduction() -> None:
    approval = lab_approval()
    with pytest.raises(IllegalTransition, match="revocation"):
        approval.reduce_scope(["TL-ELEC", "TL-EMC"], "gone", at=T0)


def test_reinstating_revoked_approval_is_illegal() -> None:
    approval, _ = granted()
    approval.revoke("commitment breached", at=T0)
    with pytest.raises(IllegalTransition, match="revoked approval is final") as illegal:
        approval.reinstate("please", at=T0)
    assert isinstance(illegal.value, Conflict) and illegal.value.status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.suspend("x", at=T0),
        lambda a: a.suspend("x", at=T0, fields=["TL-ELEC"]),
        lambda a: a.reinstate("x", at=T0),
        lambda a: a.reinstate("x", at=T0, fields=["TL-ELEC"]),
        lambda a: a.reduce_scope(["TL-ELEC"], "x", at=T0),
        lambda a: a.revoke("x", at=T0),
    ],
    ids=["suspend", "suspend_field", "reinstate", "reinstate_field", "reduce_scope", "revoke"],
)
def test_revoked_approval_is_final(change: Any) -> None:
    approval = lab_approval()
    approval.revoke("commitment breached", at=T0)
    with pytest.raises(IllegalTransition):
        change(approval)
    assert approval.status is ApprovalStatus.REVOKED and len(approval.history) == 1


def test_suspending_a_suspended_approval_is_illegal() -> None:
    approval = lab_approval()
    approval.suspend("inspection failed", at=T0)
    with pytest.raises(IllegalTransition, match="already suspended"):
        approval.suspend("again", at=T0)


def test_reinstating_an_active_approval_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="only a suspended approval"):
        lab_approval().reinstate("why", at=T0)


def test_suspending_a_field_twice_is_illegal() -> None:
    approval = lab_approval()
    approval.suspend("blind sample failed", at=T0, fields=["TL-EMC"])
    with pytest.raises(IllegalTransition, match="already suspended"):
        approval.suspend("again", at=T0, fields=["TL-EMC"])


def test_reinstating_a_field_that_is_not_suspended_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="not suspended"):
        lab_approval().reinstate("why", at=T0, fields=["TL-EMC"])


def test_field_outside_the_scope_cannot_be_suspended() -> None:
    with pytest.raises(IllegalTransition, match="not in the approval's scope"):
        lab_approval().suspend("x", at=T0, fields=["TL-FOOD"])


def test_every_transition_appends_a_history_entry() -> None:
    approval = lab_approval()
    t1, t2, t3 = (T0 + dt.timedelta(days=d) for d in (1, 2, 3))
    approval.suspend("inspection failed", at=t1, cause_event_id="evt-1")
    approval.reinstate("rectified", at=t2, actor="regulator:wang")
    approval.revoke("misconduct", at=t3, actor="regulator:li", cause_event_id="evt-3")
    assert [(h.from_status, h.to_status, h.reason, h.actor, h.cause_event_id, h.at) for h in approval.history] == [
        (ApprovalStatus.ACTIVE, ApprovalStatus.SUSPENDED, "inspection failed", None, "evt-1", t1),
        (ApprovalStatus.SUSPENDED, ApprovalStatus.ACTIVE, "rectified", "regulator:wang", None, t2),
        (ApprovalStatus.ACTIVE, ApprovalStatus.REVOKED, "misconduct", "regulator:li", "evt-3", t3),
    ]


def test_transition_needs_a_reason() -> None:
    with pytest.raises(DomainError, match="needs a reason"):
        lab_approval().suspend(" ", at=T0)


def test_a_kept_refusal_answers_with_the_application_id() -> None:
    app = application(requested_fields=["CCC-07"], declared={"staff_per_field": {"CCC-07": 12}})
    with pytest.raises(ApplicationRefused) as refused:
        granted(app)
    assert "application_id" not in refused.value.body()
    refused.value.application_id = app.id
    assert refused.value.body()["application_id"] == "app-1"
    assert {r["rule"] for r in refused.value.body()["failed_rules"]} >= {"commitment_refused_for_high_risk_field"}


# --- post-approval verification --------------------------------------------------------


def test_confirmed_verification_leaves_the_approval_active() -> None:
    approval, verification = granted()
    verification.confirm(inspector_id="insp-1", findings="premises and staff as declared", at=T0)
    assert verification.status is VerificationStatus.CONFIRMED and verification.recorded_at == T0
    assert approval.status is ApprovalStatus.ACTIVE


def test_breached_commitment_revokes_the_approval() -> None:
    approval, verification = granted()
    entry = verification.record_breach(approval, inspector_id="insp-1", findings="only 3 auditors employed",
                                       at=T0, cause_event_id="evt-9")
    assert verification.status is VerificationStatus.BREACHED
    assert approval.status is ApprovalStatus.REVOKED
    assert entry is not None and entry.reason == "commitment breached: only 3 auditors employed"
    assert (entry.actor, entry.cause_event_id) == ("insp-1", "evt-9")


def test_breach_of_an_already_revoked_approval_is_still_recorded() -> None:
    approval, verification = granted()
    approval.revoke("other misconduct", at=T0)
    assert verification.record_breach(approval, inspector_id="insp-1", findings="false premises", at=T0) is None
    assert verification.status is VerificationStatus.BREACHED


def test_breach_needs_findings_and_the_right_approval() -> None:
    approval, verification = granted()
    with pytest.raises(DomainError, match="findings"):
        verification.record_breach(approval, inspector_id="insp-1", findings="", at=T0)
    other, _ = granted(application(id="app-2"))
    other.id = "apr-2"
    with pytest.raises(DomainError, match="not apr-2"):
        verification.record_breach(other, inspector_id="insp-1", findings="x", at=T0)


def test_verification_is_recorded_once() -> None:
    approval, verification = granted()
    verification.confirm(inspector_id="insp-1", findings=None, at=T0)
    with pytest.raises(IllegalTransition, match="recorded once"):
        verification.record_breach(approval, inspector_id="insp-2", findings="x", at=T0)
    assert approval.status is ApprovalStatus.ACTIVE


def test_verification_is_assigned_to_an_inspector_until_it_is_recorded() -> None:
    approval, verification = granted()
    verification.assign("insp-1")
    verification.assign("insp-2")  # re-assigned before anything is recorded
    assert verification.inspector_id == "insp-2"
    with pytest.raises(DomainError, match="inspector"):
        verification.assign(" ")
    verification.record_breach(approval, inspector_id="insp-2", findings="x", at=T0, actor="inspector:insp-2")
    assert approval.status is ApprovalStatus.REVOKED
    with pytest.raises(IllegalTransition, match="not re-assigned"):
        verification.assign("insp-3")


def test_verification_overdue_after_its_due_date() -> None:
    _, verification = granted()
    assert not verification.is_overdue(verification.due)
    assert verification.is_overdue(verification.due + dt.timedelta(days=1))


def test_standard_path_approval_has_no_post_approval_verification() -> None:
    app = accepted()
    approval = app.grant(["MS-QMS"], CATALOGUE, RULES, approval_id="apr-9", at=T0, actor="regulator:wang")
    with pytest.raises(IllegalTransition, match="commitment-path"):
        Verification.schedule(id="ver-9", approval=approval, on=DAY0, rules=RULES)


def test_declared_facts_round_trip() -> None:
    declared = Declared.from_mapping(application().declared.as_dict())
    assert declared == application().declared


def test_failed_rules_round_trip_through_storage() -> None:
    app = application(declared={**application().declared.as_dict(), "registered_capital_rmb": 100})
    with pytest.raises(ApplicationRefused):
        granted(app)
    stored = [f.as_dict() for f in app.failed_rules]
    reloaded = Application(
        id=app.id, organisation_uscc=app.organisation_uscc, organisation_name=app.organisation_name, kind=app.kind,
        path=app.path, requested_fields=app.requested_fields, declared=app.declared.as_dict(),
        commitment_text=app.commitment_text, submitted_at=app.submitted_at, status="refused", failed_rules=stored,
    )
    assert reloaded.failed_rules == app.failed_rules and reloaded.status is ApplicationStatus.REFUSED
