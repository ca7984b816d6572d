"""Certificate rules: schemes and validity, the number format, every legal and illegal
transition, the time-based rules, and who may issue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from conformity_shared import events
from conformity_shared.errors import Conflict, DomainError

from certificates.domain import (
    DEFAULT_FIELD_SCHEMES,
    DEFAULT_VALIDITY_YEARS,
    FINAL_STATUSES,
    SUSPENDED_ON_REVOCATION,
    TRANSITIONS,
    Action,
    ActionForbidden,
    BodyStanding,
    BodyStatus,
    Certificate,
    CertificateNumber,
    HistoryEntry,
    IllegalTransition,
    InvalidCertificateNumber,
    IssuanceRefused,
    Scheme,
    Status,
    SuspensionReason,
    UnknownScheme,
    add_months,
    body_code,
    certificate_number,
    default_valid_until,
    is_valid_certificate_number,
    may_issue,
    may_manage,
    number_prefix,
    validity,
)

BODY = "91350100M000100Y43"
HOLDER = "91110105FQEFLCR61X"
NUMBER = "MSC20260Y4300000042"
VALID_FROM = dt.date(2026, 3, 10)
VALID_UNTIL = dt.date(2029, 3, 9)
T0 = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
DAY0 = dt.date(2026, 6, 1)  # the regulator's date at T0 (18:00 in Beijing)
SUSPENDED_UNTIL = dt.date(2026, 12, 1)


def certificate(status: Status = Status.VALID, **overrides: Any) -> Certificate:
    values: dict[str, Any] = dict(
        number=NUMBER, issuing_body_uscc=BODY, holder_uscc=HOLDER, holder_name="Beijing Kettle Works",
        scheme="management_system", field="MS-QMS", product="Design and manufacture of electric kettles",
        standard="GB/T 19001-2016", valid_from=VALID_FROM, valid_until=VALID_UNTIL, status=status,
    )
    if status is Status.SUSPENDED:
        values.update(suspension_reason="spot_check_failed", suspended_until=SUSPENDED_UNTIL, suspended_by="insp-1")
    values.update(overrides)
    return Certificate(**values)


# --- schemes and validity --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme"),
    [("CCC", Scheme.CCC), ("ccc", Scheme.CCC), ("management_system", Scheme.MANAGEMENT_SYSTEM),
     ("MANAGEMENT_SYSTEM", Scheme.MANAGEMENT_SYSTEM), ("voluntary_product", Scheme.VOLUNTARY_PRODUCT),
     (" service ", Scheme.SERVICE), (Scheme.SERVICE, Scheme.SERVICE)],
)
def test_scheme_is_named_by_its_value_or_name(text: str, scheme: Scheme) -> None:
    assert Scheme.parse(text) is scheme


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(UnknownScheme, match="scheme must be one of CCC, voluntary_product") as refused:
        Scheme.parse("organic")
    assert refused.value.status_code == 422 and refused.value.field == "scheme"


@pytest.mark.parametrize(
    ("scheme", "years"),
    [(Scheme.CCC, 5), (Scheme.MANAGEMENT_SYSTEM, 3), (Scheme.VOLUNTARY_PRODUCT, 5), (Scheme.SERVICE, 3)],
)
def test_default_validity_per_scheme(scheme: Scheme, years: int) -> None:
    assert DEFAULT_VALIDITY_YEARS[scheme] == years
    assert default_valid_until(scheme, VALID_FROM) == dt.date(2026 + years, 3, 9)


def test_ccc_certificate_is_valid_5_years_and_management_system_3() -> None:
    assert default_valid_until("CCC", dt.date(2026, 1, 1)) == dt.date(2030, 12, 31)
    assert default_valid_until("management_system", dt.date(2026, 1, 1)) == dt.date(2028, 12, 31)


def test_validity_from_a_leap_day_ends_on_28_february() -> None:
    assert default_valid_until(Scheme.CCC, dt.date(2028, 2, 29)) == dt.date(2033, 2, 28)
    assert default_valid_until(Scheme.CCC, dt.date(2028, 2, 28)) == dt.date(2033, 2, 27)


def test_validity_is_configurable() -> None:
    assert default_valid_until(Scheme.CCC, VALID_FROM, {Scheme.CCC: 2}) == dt.date(2028, 3, 9)


def test_validity_defaults_to_today_and_the_scheme_and_is_not_issued_expired() -> None:
    assert validity(Scheme.MANAGEMENT_SYSTEM, VALID_FROM) == (VALID_FROM, VALID_UNTIL)
    assert validity(Scheme.CCC, VALID_FROM, dt.date(2026, 1, 1)) == (dt.date(2026, 1, 1), dt.date(2030, 12, 31))
    with pytest.raises(DomainError, match="not issued expired") as refused:
        validity(Scheme.CCC, VALID_FROM, dt.date(2015, 1, 1))
    assert refused.value.field == "valid_until"


@pytest.mark.parametrize(
    ("scheme", "years"),
    [(Scheme.CCC, 5), (Scheme.VOLUNTARY_PRODUCT, 5), (Scheme.MANAGEMENT_SYSTEM, 3), (Scheme.SERVICE, 3)],
)
def test_validity_is_bounded_by_the_schemes_longest(scheme: Scheme, years: int) -> None:
    longest = dt.date(2026 + years, 3, 9)  # the day before the anniversary
    assert validity(scheme, VALID_FROM, VALID_FROM, longest) == (VALID_FROM, longest)
    with pytest.raises(DomainError, match=f"at most {years} years") as refused:
        validity(scheme, VALID_FROM, VALID_FROM, longest + dt.timedelta(days=1))
    assert refused.value.status_code == 422 and refused.value.field == "valid_until"
    assert [r["rule"] for r in refused.value.rules] == ["validity_exceeds_scheme_maximum"]


def test_a_ccc_certificate_valid_for_50_years_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        validity(Scheme.CCC, VALID_FROM, VALID_FROM, dt.date(2076, 3, 9))
    assert refused.value.field == "valid_until"
    assert refused.value.rules[0]["rule"] == "validity_exceeds_scheme_maximum"
    assert "2031-03-09" in refused.value.rules[0]["detail"]  # the latest day it may run to


def test_validity_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        validity(Scheme.CCC, VALID_FROM, dt.date(2030, 1, 1), dt.date(2029, 12, 31))
    assert refused.value.field == "valid_until"
    assert [r["rule"] for r in refused.value.rules] == ["valid_until_not_after_valid_from"]


def test_the_bound_holds_for_the_certificate_itself_too() -> None:
    with pytest.raises(DomainError) as refused:
        Certificate.issue(
            number="CCC20260Y4300000001", issuing_body_uscc=BODY, holder_uscc=HOLDER, holder_name="x", scheme="CCC",
            field="CCC-07", product="kettle", standard="GB 4706.1", valid_from=VALID_FROM,
            valid_until=dt.date(2076, 3, 9), at=T0,
        )
    assert refused.value.rules[0]["rule"] == "validity_exceeds_scheme_maximum"


# --- the certificate number ------------------------------------------------------------


def test_number_is_scheme_code_year_body_code_and_8_digit_sequence() -> None:
    prefix = number_prefix(Scheme.MANAGEMENT_SYSTEM, 2026, BODY)
    assert prefix == "MSC20260Y43"
    assert certificate_number(prefix, 42) == NUMBER
    assert len(NUMBER) == 19
    assert number_prefix("CCC", 2026, BODY) == "CCC20260Y43"
    assert number_prefix("voluntary_product", 2026, BODY).startswith("VPC")
    assert number_prefix("service", 2026, BODY).startswith("SVC")


def test_body_code_is_the_last_four_characters_of_the_uscc() -> None:
    assert body_code(BODY) == "0Y43"
    assert number_prefix(Scheme.CCC, 2026, BODY) == "CCC20260Y43"


def test_number_parses_into_its_parts_and_back() -> None:
    parts = CertificateNumber.parse(NUMBER)
    assert parts == CertificateNumber(Scheme.MANAGEMENT_SYSTEM, 2026, "0Y43", 42)
    assert parts.prefix == "MSC20260Y43"
    assert str(parts) == NUMBER
    assert CertificateNumber.parse(f"  {NUMBER.lower()} ") == parts


@pytest.mark.parametrize(
    "text",
    [
        "",
        "MSC20260Y43000000042",  # one digit too many
        "MSC20260Y430000004",  # one digit too few
        "XYZ20260Y4300000042",  # unknown scheme code
        "MSC20A60Y4300000042",  # year not digits
        "MSC20260YI300000042",  # I is not in the USCC alphabet
        "MSC20260Y4300000000",  # sequences start at 1
        "MSC-2026-0Y43-00000042",  # no separators
    ],
)
def test_malformed_numbers_are_refused(text: str) -> None:
    assert not is_valid_certificate_number(text)
    with pytest.raises(InvalidCertificateNumber):
        CertificateNumber.parse(text)


def test_number_parts_are_checked_when_generating() -> None:
    with pytest.raises(InvalidCertificateNumber, match="four digits"):
        number_prefix(Scheme.CCC, 226, BODY)
    with pytest.raises(InvalidCertificateNumber, match="not a USCC"):
        number_prefix(Scheme.CCC, 2026, "")
    with pytest.raises(InvalidCertificateNumber, match="sequence"):
        certificate_number("CCC20260Y43", 100_000_000)
    with pytest.raises(InvalidCertificateNumber, match="sequence"):
        certificate_number("CCC20260Y43", 0)
    with pytest.raises(InvalidCertificateNumber, match="prefix"):
        certificate_number("CCC2026", 1)


# --- issuance --------------------------------------------------------------------------


def test_issued_certificate_is_valid_with_an_issuance_entry() -> None:
    cert = Certificate.issue(
        number=NUMBER, issuing_body_uscc=BODY, holder_uscc=HOLDER, holder_name="Beijing Kettle Works",
        scheme=Scheme.MANAGEMENT_SYSTEM, field="MS-QMS", product="kettles", standard="GB/T 19001-2016",
        valid_from=VALID_FROM, valid_until=VALID_UNTIL, at=T0, actor="body:alice",
    )
    assert cert.status is Status.VALID and cert.scheme == "management_system"
    assert cert.history == [HistoryEntry(None, Status.VALID, "issued", "body:alice", None, T0)]


def test_issuance_needs_a_validity_that_ends_after_it_starts() -> None:
    with pytest.raises(DomainError, match="valid_until must be after valid_from"):
        Certificate.issue(
            number=NUMBER, issuing_body_uscc=BODY, holder_uscc=HOLDER, holder_name="x", scheme="CCC", field="CCC-07",
            product="kettle", standard="GB 4706.1", valid_from=VALID_FROM, valid_until=VALID_FROM, at=T0,
        )


def test_issuance_needs_a_well_formed_number() -> None:
    with pytest.raises(InvalidCertificateNumber):
        Certificate.issue(
            number="C1", issuing_body_uscc=BODY, holder_uscc=HOLDER, holder_name="x", scheme="CCC", field="CCC-07",
            product="kettle", standard="GB 4706.1", valid_from=VALID_FROM, valid_until=VALID_UNTIL, at=T0,
        )


# --- every legal and every illegal transition ------------------------------------------

AFTER_VALIDITY = dt.datetime(2029, 3, 10, 1, 0, tzinfo=dt.UTC)
DAY_AFTER_VALIDITY = dt.date(2029, 3, 10)
AFTER_DEADLINE = dt.datetime(2026, 12, 2, 1, 0, tzinfo=dt.UTC)
DAY_AFTER_DEADLINE = dt.date(2026, 12, 2)

# Each action is called with dates that satisfy its time conditions, so that only the
# status can make it illegal.
ACTIONS: dict[str, Callable[[Certificate], HistoryEntry]] = {
    "suspend": lambda c: c.suspend(SuspensionReason.MISUSE, at=T0, today=DAY0, actor="body:alice"),
    "reinstate": lambda c: c.reinstate("corrective action verified", at=T0, today=DAY0, actor="body:alice"),
    "withdraw": lambda c: c.withdraw("serious misuse", at=T0, actor="body:alice"),
    "cancel": lambda c: c.cancel("holder stopped production", at=T0, actor="body:alice"),
    "expire": lambda c: c.expire(at=AFTER_VALIDITY, today=DAY_AFTER_VALIDITY),
    "withdraw_after_deadline": lambda c: c.withdraw_after_deadline(at=AFTER_DEADLINE, today=DAY_AFTER_DEADLINE),
}

LEGAL: dict[tuple[Status, str], Status] = {
    (Status.VALID, "suspend"): Status.SUSPENDED,
    (Status.VALID, "withdraw"): Status.WITHDRAWN,
    (Status.VALID, "cancel"): Status.CANCELLED,
    (Status.VALID, "expire"): Status.EXPIRED,
    (Status.SUSPENDED, "reinstate"): Status.VALID,
    (Status.SUSPENDED, "withdraw"): Status.WITHDRAWN,
    (Status.SUSPENDED, "withdraw_after_deadline"): Status.WITHDRAWN,
    (Status.SUSPENDED, "cancel"): Status.CANCELLED,
    (Status.SUSPENDED, "expire"): Status.EXPIRED,
}
ILLEGAL = [(status, action) for status in Status for action in ACTIONS if (status, action) not in LEGAL]


def test_the_transition_table_matches_the_design() -> None:
    for (status, action), to in LEGAL.items():
        allowed_from, target = TRANSITIONS["withdraw" if action == "withdraw_after_deadline" else action]
        assert status in allowed_from and target is to
    assert FINAL_STATUSES == {Status.WITHDRAWN, Status.CANCELLED, Status.EXPIRED}
    assert len(LEGAL) + len(ILLEGAL) == len(Status) * len(ACTIONS)


def test_a_revoked_body_s_certificates_are_those_the_lifecycle_lets_be_suspended() -> None:
    assert SUSPENDED_ON_REVOCATION == TRANSITIONS[Action.SUSPEND][0] == {Status.VALID}


@pytest.mark.parametrize(("status", "action"), list(LEGAL), ids=[f"{s.value}-{a}" for s, a in LEGAL])
def test_legal_transition(status: Status, action: str) -> None:
    cert = certificate(status)
    entry = ACTIONS[action](cert)
    assert cert.status is LEGAL[(status, action)]
    assert cert.history == [entry]
    assert (entry.from_status, entry.to_status) == (status, cert.status)
    if cert.status is not Status.SUSPENDED:
        assert (cert.suspension_reason, cert.suspended_until, cert.suspended_by) == (None, None, None)


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=[f"{s.value}-{a}" for s, a in ILLEGAL])
def test_illegal_transition(status: Status, action: str) -> None:
    cert = certificate(status)
    with pytest.raises(IllegalTransition) as illegal:
        ACTIONS[action](cert)
    assert cert.status is status and cert.history == []
    assert isinstance(illegal.value, Conflict) and illegal.value.status_code == 409
    assert illegal.value.current is status
    assert f"certificate {NUMBER}" in str(illegal.value)
    if status in FINAL_STATUSES:
        assert f"a {status.value} certificate is final" in str(illegal.value)


def test_reinstating_withdrawn_certificate_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="cannot reinstate .*: a withdrawn certificate is final"):
        certificate(Status.WITHDRAWN).reinstate("rectified", at=T0, today=DAY0)


def test_suspending_expired_certificate_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="cannot suspend .*: an? expired certificate is final"):
        certificate(Status.EXPIRED).suspend(SuspensionReason.SPOT_CHECK_FAILED, at=T0, today=DAY0)


def test_suspending_suspended_certificate_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="already suspended"):
        certificate(Status.SUSPENDED).suspend(SuspensionReason.MISUSE, at=T0, today=DAY0)


def test_reinstating_valid_certificate_is_illegal() -> None:
    with pytest.raises(IllegalTransition, match="only a suspended certificate can be reinstated"):
        certificate().reinstate("why", at=T0, today=DAY0)


def test_every_transition_appends_a_history_entry() -> None:
    cert = certificate()
    t1, t2 = T0, T0 + dt.timedelta(days=10)
    cert.suspend(SuspensionReason.SPOT_CHECK_FAILED, at=t1, today=t1.date(), cause_event_id="evt-1", suspended_by="insp-7",
                 note="sample overheats")
    cert.reinstate("rectification verified", at=t2, today=t2.date(), cause_event_id="evt-2")
    cert.cancel("holder request", at=t2, actor="body:alice")
    assert [(h.from_status, h.to_status, h.reason, h.actor, h.cause_event_id, h.at) for h in cert.history] == [
        (Status.VALID, Status.SUSPENDED, "spot_check_failed", None, "evt-1", t1),
        (Status.SUSPENDED, Status.VALID, "rectification verified", None, "evt-2", t2),
        (Status.VALID, Status.CANCELLED, "holder request", "body:alice", None, t2),
    ]
    assert cert.history[0].note == "sample overheats"


def test_transition_needs_a_reason() -> None:
    with pytest.raises(DomainError, match="needs a reason"):
        certificate().withdraw("  ", at=T0)


# --- suspension ------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(SuspensionReason))
def test_every_design_reason_suspends(reason: SuspensionReason) -> None:
    cert = certificate()
    cert.suspend(reason.value, at=T0, today=DAY0)
    assert cert.suspension_reason == reason.value


def test_suspension_reason_must_be_one_of_the_design() -> None:
    with pytest.raises(DomainError, match="a suspension reason is one of spot_check_failed"):
        certificate().suspend("bad_weather", at=T0, today=DAY0)


def test_suspension_deadline_defaults_to_6_months() -> None:
    cert = certificate()
    cert.suspend(SuspensionReason.SURVEILLANCE_OVERDUE, at=T0, today=DAY0)
    assert cert.suspended_until == dt.date(2026, 12, 1)


def test_suspension_deadline_is_configurable() -> None:
    cert = certificate()
    cert.suspend(SuspensionReason.MISUSE, at=T0, today=DAY0, months=3)
    assert cert.suspended_until == dt.date(2026, 9, 1)
    cert = certificate()
    cert.suspend(SuspensionReason.MISUSE, at=T0, today=DAY0, until=dt.date(2026, 7, 15))
    assert cert.suspended_until == dt.date(2026, 7, 15)
    with pytest.raises(DomainError, match="must be after"):
        certificate().suspend(SuspensionReason.MISUSE, at=T0, today=DAY0, until=DAY0)
    with pytest.raises(DomainError, match="at least one month"):
        certificate().suspend(SuspensionReason.MISUSE, at=T0, today=DAY0, months=0)


def test_six_months_from_the_end_of_august_is_the_end_of_february() -> None:
    assert add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 8, 31), 6) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 12, 15), 1) == dt.date(2027, 1, 15)


def test_suspension_keeps_which_spot_check_suspended_it() -> None:
    cert = certificate()
    cert.suspend(SuspensionReason.SPOT_CHECK_FAILED, at=T0, today=DAY0, suspended_by="insp-7", cause_event_id="evt-1")
    assert cert.suspended_by == "insp-7"
    assert cert.is_suspended_by_spot_check("insp-7")
    assert not cert.is_suspended_by_spot_check("insp-8")


def test_rectification_reinstates_only_certificates_suspended_by_that_spot_check() -> None:
    by_this = certificate(Status.SUSPENDED, suspended_by="insp-7")
    by_other = certificate(Status.SUSPENDED, suspended_by="insp-8")
    for_misuse = certificate(Status.SUSPENDED, suspension_reason="misuse", suspended_by="insp-7")

    entry = by_this.reinstate_after_rectification("insp-7", at=T0, today=DAY0, cause_event_id="evt-5")
    assert by_this.status is Status.VALID
    assert entry.reason == "rectification verified for spot check insp-7" and entry.cause_event_id == "evt-5"
    for cert in (by_other, for_misuse):
        with pytest.raises(IllegalTransition, match="reinstates only what that spot check suspended"):
            cert.reinstate_after_rectification("insp-7", at=T0, today=DAY0)
        assert cert.status is Status.SUSPENDED
    with pytest.raises(IllegalTransition, match="withdrawn certificate is final"):
        certificate(Status.WITHDRAWN).reinstate_after_rectification("insp-7", at=T0, today=DAY0)


def test_reinstatement_clears_the_suspension() -> None:
    cert = certificate(Status.SUSPENDED)
    cert.reinstate("rectified", at=T0, today=DAY0)
    assert (cert.suspension_reason, cert.suspended_until, cert.suspended_by) == (None, None, None)


def test_reinstatement_refused_after_the_suspension_deadline() -> None:
    cert = certificate(Status.SUSPENDED)
    cert.reinstate("rectified on the last day", at=dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC), today=SUSPENDED_UNTIL)
    late = certificate(Status.SUSPENDED)
    with pytest.raises(IllegalTransition, match="deadline 2026-12-01 has passed"):
        late.reinstate("rectified", at=AFTER_DEADLINE, today=DAY_AFTER_DEADLINE)


def test_reinstatement_refused_after_the_validity() -> None:
    cert = certificate(Status.SUSPENDED, suspended_until=dt.date(2029, 6, 1))
    with pytest.raises(IllegalTransition, match="validity ended on 2029-03-09"):
        cert.reinstate("rectified", at=AFTER_VALIDITY, today=DAY_AFTER_VALIDITY)


# --- time-based rules -----------------------------------------------------------------


def test_suspension_deadline_passed_withdraws() -> None:
    cert = certificate(Status.SUSPENDED)
    assert cert.due_transition(SUSPENDED_UNTIL) is None  # the deadline day itself still allows reinstatement
    assert cert.due_transition(SUSPENDED_UNTIL + dt.timedelta(days=1)) is Status.WITHDRAWN
    entry = cert.apply_due_transition(at=AFTER_DEADLINE, today=DAY_AFTER_DEADLINE)
    assert cert.status is Status.WITHDRAWN
    assert entry is not None and entry.reason == "suspension deadline 2026-12-01 passed without reinstatement"
    assert entry.actor == "system"


def test_withdrawal_at_deadline_refused_before_the_deadline() -> None:
    with pytest.raises(IllegalTransition, match="has not passed"):
        certificate(Status.SUSPENDED).withdraw_after_deadline(at=T0, today=SUSPENDED_UNTIL)


def test_validity_end_passed_expires() -> None:
    cert = certificate()
    assert cert.due_transition(VALID_UNTIL) is None  # the last day of validity
    assert cert.due_transition(VALID_UNTIL + dt.timedelta(days=1)) is Status.EXPIRED
    entry = cert.apply_due_transition(at=AFTER_VALIDITY, today=DAY_AFTER_VALIDITY)
    assert cert.status is Status.EXPIRED and entry is not None and entry.reason == "validity ended on 2029-03-09"


def test_expiry_refused_while_valid() -> None:
    with pytest.raises(IllegalTransition, match="valid until 2029-03-09"):
        certificate().expire(at=T0, today=VALID_UNTIL)


def test_suspended_certificate_past_its_validity_expires() -> None:
    cert = certificate(Status.SUSPENDED, suspended_until=dt.date(2029, 6, 1))
    assert cert.due_transition(dt.date(2029, 3, 10)) is Status.EXPIRED


def test_when_both_deadlines_passed_the_earlier_decides() -> None:
    withdrawn_first = certificate(Status.SUSPENDED, suspended_until=dt.date(2029, 1, 1))
    assert withdrawn_first.due_transition(dt.date(2029, 7, 1)) is Status.WITHDRAWN
    expired_first = certificate(Status.SUSPENDED, suspended_until=dt.date(2029, 6, 1))
    assert expired_first.due_transition(dt.date(2029, 7, 1)) is Status.EXPIRED
    same_day = certificate(Status.SUSPENDED, suspended_until=VALID_UNTIL)
    assert same_day.due_transition(dt.date(2029, 7, 1)) is Status.WITHDRAWN


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_nothing_is_due_for_a_final_certificate(status: Status) -> None:
    cert = certificate(status)
    assert cert.due_transition(dt.date(2040, 1, 1)) is None
    assert cert.apply_due_transition(at=AFTER_VALIDITY, today=dt.date(2040, 1, 1)) is None


# --- may a body issue? ----------------------------------------------------------------

ACTIVE = BodyStanding(BODY, "active", frozenset({"MS-QMS", "MS-EMS"}), frozenset({"MS-EMS"}))


def test_active_body_may_issue_in_its_scope() -> None:
    assert may_issue(ACTIVE, "MS-QMS", "management_system") is None


@pytest.mark.parametrize(
    ("body", "field", "rule", "message"),
    [
        (None, "MS-QMS", "not_approved", "is not an approved certification body"),
        (BodyStanding(BODY, None), "MS-QMS", "not_approved", "is not an approved certification body"),
        (BodyStanding(BODY, "revoked", frozenset({"MS-QMS"})), "MS-QMS", "body_revoked", "approval is revoked"),
        (BodyStanding(BODY, "suspended", frozenset({"MS-QMS"})), "MS-QMS", "body_suspended", "approval is suspended"),
        (BodyStanding(BODY, "pending", frozenset({"MS-QMS"})), "MS-QMS", "not_approved", "no active approval"),
        (ACTIVE, "CCC-07", "outside_scope", "CCC-07 is outside"),
        (ACTIVE, "MS-EMS", "field_suspended", "suspended in field MS-EMS"),
    ],
    ids=["unknown", "no_approval", "revoked", "suspended", "unknown_status", "outside_scope", "field_suspended"],
)
def test_issuance_refused(body: BodyStanding | None, field: str, rule: str, message: str) -> None:
    with pytest.raises(IssuanceRefused, match=message) as refused:
        may_issue(body, field, "management_system")
    assert refused.value.rule == rule
    assert refused.value.status_code == 422
    assert refused.value.rules == [{"rule": rule, "detail": str(refused.value)}]


# --- the read model of a body's approval ------------------------------------------------

GRANTED = BodyStanding.granted(BODY, "approval-1", ["MS-QMS", "MS-EMS"])


def test_the_read_model_follows_only_the_latest_granted_approval() -> None:
    assert GRANTED.follows("approval-1") and not GRANTED.follows("approval-0")
    assert not BodyStanding(BODY, None).follows("approval-1")  # never granted (a lab)


def test_a_whole_reinstatement_keeps_the_field_suspensions() -> None:
    suspended = GRANTED.suspend(["MS-EMS"]).suspend()
    assert (suspended.status, suspended.suspended_fields) == (BodyStatus.SUSPENDED, {"MS-EMS"})
    reinstated = suspended.reinstate()
    assert (reinstated.status, reinstated.suspended_fields) == (BodyStatus.ACTIVE, {"MS-EMS"})
    assert reinstated.reinstate(["MS-EMS"]).suspended_fields == frozenset()


def test_a_revocation_is_final_for_later_suspensions_and_reinstatements() -> None:
    revoked = GRANTED.revoke()
    assert revoked.suspend() is revoked and revoked.reinstate() is revoked
    assert revoked.suspend(["MS-QMS"]) is revoked
    with pytest.raises(IssuanceRefused) as refused:
        may_issue(revoked, "MS-QMS", "management_system")
    assert refused.value.rule == "body_revoked"


def test_a_reduced_scope_refuses_the_removed_field() -> None:
    with pytest.raises(IssuanceRefused) as refused:
        may_issue(GRANTED.reduce_scope(["MS-QMS"]), "MS-EMS", "management_system")
    assert refused.value.rule == "outside_scope"


# --- no valid certificate of a revoked body ------------------------------------------------


def revoked_body_certificate(reason: str = "issuing_body_revoked") -> Certificate:
    return certificate(Status.SUSPENDED, suspension_reason=reason, suspended_by="approval-1")


@pytest.mark.parametrize("reason", ["issuing_body_revoked", "spot_check_failed", "misuse"])
def test_the_regulator_does_not_reinstate_a_certificate_while_its_body_is_revoked(reason: str) -> None:
    with pytest.raises(Conflict, match="revoked") as refused:
        may_manage(revoked_body_certificate(reason), Action.REINSTATE, reason="appeal upheld", regulator=True,
                   org=None, body=GRANTED.revoke())
    assert refused.value.status_code == 409 and refused.value.field == "issuing_body"
    assert [r["rule"] for r in refused.value.rules] == ["issuing_body_revoked"]


def test_the_regulator_reinstates_once_the_body_is_approved_again() -> None:
    regranted = BodyStanding.granted(BODY, "approval-2", ["MS-QMS"])
    assert may_manage(revoked_body_certificate(), Action.REINSTATE, reason="approval granted again",
                      regulator=True, org=None, body=regranted) is None
    # Withdrawing a revoked body's certificate stays open to the regulator.
    assert may_manage(revoked_body_certificate(), Action.WITHDRAW, reason="body revoked", regulator=True,
                      org=None, body=GRANTED.revoke()) is None


# --- the schemes a field admits ------------------------------------------------------------

QMS_ONLY = BodyStanding.granted(BODY, "approval-1", ["MS-QMS"], {"MS-QMS": ["management_system"]})


@pytest.mark.parametrize("scheme", ["CCC", "voluntary_product", "service"])
def test_a_field_admits_only_the_schemes_its_grant_names(scheme: str) -> None:
    with pytest.raises(IssuanceRefused, match="MS-QMS admits management_system") as refused:
        may_issue(QMS_ONLY, "MS-QMS", scheme)
    assert refused.value.rule == "scheme_not_admitted_by_field"
    assert refused.value.status_code == 422 and refused.value.field == "scheme"
    assert may_issue(QMS_ONLY, "MS-QMS", Scheme.MANAGEMENT_SYSTEM) is None


def test_a_grant_without_field_schemes_is_read_with_the_default_catalogue() -> None:
    older = BodyStanding.granted(BODY, "approval-1", ["MS-QMS", "CCC-07", "X-1"], {})
    assert older.field_schemes is None  # the grant said nothing
    assert may_issue(older, "CCC-07", "CCC") is None
    with pytest.raises(IssuanceRefused) as refused:
        may_issue(older, "MS-QMS", "CCC")
    assert refused.value.rule == "scheme_not_admitted_by_field"
    with pytest.raises(IssuanceRefused, match="new grant") as unknown:
        may_issue(older, "X-1", "service")
    assert unknown.value.rule == "field_schemes_not_granted" and unknown.value.field == "field"


def test_the_default_catalogue_admits_one_scheme_per_family() -> None:
    families = {"CCC": Scheme.CCC, "MS": Scheme.MANAGEMENT_SYSTEM, "VP": Scheme.VOLUNTARY_PRODUCT, "SV": Scheme.SERVICE}
    assert DEFAULT_FIELD_SCHEMES
    for code, schemes in DEFAULT_FIELD_SCHEMES.items():
        assert schemes == {families[code.split("-")[0]].value}, code


def test_the_schemes_are_the_contracts() -> None:
    assert {s.value for s in Scheme} == {s.value for s in events.CertificationScheme}


def test_a_reinstating_body_meets_the_issuance_check_on_the_scheme_too() -> None:
    ccc_in_qms = certificate(Status.SUSPENDED, scheme="CCC", suspension_reason="misuse")
    with pytest.raises(ActionForbidden) as refused:
        may_manage(ccc_in_qms, Action.REINSTATE, reason="corrected", regulator=False, org=BODY, body=QMS_ONLY)
    assert refused.value.rule == "scheme_not_admitted_by_field"
