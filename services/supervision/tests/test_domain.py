"""Supervision rules: credit classes, recording inspection results, the inspection and
campaign lifecycles."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformity_shared.events import CreditClass, OrganisationKind
from supervision.domain import (
    CAMPAIGN_TRANSITIONS,
    CREDIT_ORDER,
    DRAWABLE_KINDS,
    INSPECTION_TRANSITIONS,
    RESTORATION_CAUSE,
    Campaign,
    CampaignAction,
    CampaignAlreadyDrawn,
    CampaignParameters,
    CampaignStatus,
    CampaignStepRefused,
    CreditPolicy,
    CreditStanding,
    DrawRefused,
    Failure,
    FailureKind,
    FindingsRequiredOnFail,
    Frozen,
    Inspection,
    InspectionAction,
    InspectionFailed,
    InspectionKind,
    InspectionStatus,
    InspectorNotAssignable,
    InvalidCampaign,
    InvalidCreditPolicy,
    InvalidInspection,
    NotAParty,
    NotAssignedInspector,
    ReInspectionOfAnotherTarget,
    RectificationVerified,
    ResultAlreadyRecorded,
    RevealRefused,
    SampleResult,
    SampleResultsRequired,
    SamplesOnlyOnSpotChecks,
    SpotCheckFailed,
    TargetKind,
    Verdict,
    VerdictContradictsSamples,
    VerdictRequired,
    check_assignable,
    lowered,
    restored,
)
from supervision.domain.draw import DrawnTarget, Inspector, Target
from supervision.domain.draw_record import commitment, derive_seed, verify_record

A, B, C, D = CREDIT_ORDER
ORG = "91110105MA01234567"  # opaque here: the directory validates USCCs on entry
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
YEAR = dt.timedelta(days=365)


def standing(credit_class: CreditClass = A, clean_since: dt.datetime = T0) -> CreditStanding:
    return CreditStanding(ORG, credit_class, clean_since)


def failure(kind: FailureKind, at: dt.datetime = T0 + dt.timedelta(days=10)) -> Failure:
    return Failure(kind, "INS-2024-0001", at)


# --- credit: lowering on failure ----------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [FailureKind.SPOT_CHECK_FAILED, FailureKind.INSPECTION_FAILED, FailureKind.LAB_FAILURE]
)
def test_a_spot_check_inspection_or_lab_failure_lowers_one_class(kind):
    after, change = standing(B).record_failure(failure(kind))
    assert after.credit_class == C
    assert (change.previous, change.current, change.cause) == (B, C, kind.value)
    assert change.reference == "INS-2024-0001" and change.organisation == ORG


@pytest.mark.parametrize("start", [A, B, C])
def test_a_breached_commitment_lowers_to_d_from_any_class(start):
    after, change = standing(start).record_failure(failure(FailureKind.COMMITMENT_BREACHED))
    assert after.credit_class == D
    assert (change.previous, change.current, change.cause) == (start, D, "commitment_breached")


def test_credit_never_goes_below_d_but_the_failure_restarts_the_clean_period():
    at = T0 + dt.timedelta(days=200)
    after, change = standing(D).record_failure(failure(FailureKind.SPOT_CHECK_FAILED, at))
    assert after.credit_class == D
    assert change is None
    assert after.clean_since == at


def test_lowering_steps_are_configurable():
    policy = CreditPolicy(lowering={k: 2 for k in FailureKind})
    after, change = standing(A).record_failure(failure(FailureKind.LAB_FAILURE), policy)
    assert (change.previous, change.current) == (A, C)


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"clean_period": dt.timedelta(0)}, "clean period must be positive"),
        ({"lowering": {FailureKind.LAB_FAILURE: 1}}, "missing: spot_check_failed"),
        ({"lowering": {k: 0 for k in FailureKind}}, "at least one class"),
    ],
)
def test_a_credit_policy_outside_the_rules_is_refused(arguments, names):
    with pytest.raises(InvalidCreditPolicy, match=names):
        CreditPolicy(**arguments)


def test_class_arithmetic_stays_between_a_and_d():
    assert lowered(C, 5) == D and lowered(A, 1) == B
    assert restored(A) == A and restored(D) == C


# --- credit: restoration after a clean period ---------------------------------------------------


def test_a_clean_period_without_failure_restores_one_class():
    after, change = standing(C).restore_if_clean(T0 + YEAR)
    assert after.credit_class == B
    assert (change.previous, change.current, change.cause) == (C, B, RESTORATION_CAUSE)
    assert change.at == T0 + YEAR


def test_no_restoration_before_the_clean_period_ends():
    after, change = standing(C).restore_if_clean(T0 + YEAR - dt.timedelta(seconds=1))
    assert (after.credit_class, change) == (C, None)


def test_restoration_never_goes_above_a():
    after, change = standing(A).restore_if_clean(T0 + 10 * YEAR)
    assert (after.credit_class, change) == (A, None)


def test_each_further_clean_period_restores_one_more_class():
    s = standing(D)
    now = T0 + 2 * YEAR + dt.timedelta(days=1)
    s, first = s.restore_if_clean(now)
    s, second = s.restore_if_clean(now)
    s, third = s.restore_if_clean(now)
    assert (first.current, second.current, third) == (C, B, None)
    assert s.clean_since == T0 + 2 * YEAR


def test_a_failure_restarts_the_clean_period():
    failed_at = T0 + dt.timedelta(days=300)
    s, _ = standing(B).record_failure(failure(FailureKind.SPOT_CHECK_FAILED, failed_at))
    assert s.restore_if_clean(T0 + YEAR)[1] is None
    assert s.restore_if_clean(failed_at + YEAR)[0].credit_class == B


def test_the_clean_period_is_configurable():
    policy = CreditPolicy(clean_period=dt.timedelta(days=90))
    after, _ = standing(B).restore_if_clean(T0 + dt.timedelta(days=90), policy)
    assert after.credit_class == A


def test_a_new_organisation_starts_with_no_failure_on_record():
    assert CreditStanding.new(ORG, T0).credit_class == A


@given(
    st.lists(
        st.one_of(
            st.sampled_from(list(FailureKind)),
            st.integers(min_value=0, max_value=800).map(lambda days: dt.timedelta(days=days)),
        ),
        max_size=30,
    ),
    st.sampled_from(CREDIT_ORDER),
)
def test_property_credit_stays_within_a_to_d_and_every_change_is_one_rule(steps, start):
    policy = CreditPolicy()
    s, now = standing(start), T0
    for step in steps:
        if isinstance(step, dt.timedelta):
            now += step
            before = s.credit_class
            s, change = s.restore_if_clean(now, policy)
            if change:
                assert CREDIT_ORDER.index(change.previous) - CREDIT_ORDER.index(change.current) == 1
                assert change.cause == RESTORATION_CAUSE
            else:
                assert s.credit_class == before
        else:
            before = s.credit_class
            s, change = s.record_failure(Failure(step, "ref", now), policy)
            assert s.clean_since == now
            expected = lowered(before, policy.lowering[step])
            assert s.credit_class == expected
            assert (change is None) == (expected == before)
        assert s.credit_class in CREDIT_ORDER


# --- inspection results --------------------------------------------------------------------


def organisation_inspection(**overrides) -> Inspection:
    fields = {
        "id": "INSP-1",
        "kind": InspectionKind.ORGANISATION_INSPECTION,
        "target_id": ORG,
        "target_kind": OrganisationKind.CERTIFICATION_BODY,
        "inspector_ids": {"INS-A", "INS-B"},
    }
    return Inspection(**(fields | overrides))


def spot_check() -> Inspection:
    return Inspection(
        "SPOT-1", InspectionKind.PRODUCT_SPOT_CHECK, ORG, OrganisationKind.ENTERPRISE, frozenset({"INS-A", "INS-B"})
    )


def failed_spot_check() -> Inspection:
    samples = [SampleResult("CCC-2", False, "insulation"), SampleResult("CCC-1", True), SampleResult("CCC-3", False)]
    return spot_check().record_spot_check("INS-A", samples, "two products fail GB 4706.1", T0).inspection


def test_only_an_assigned_inspector_records_a_result():
    with pytest.raises(NotAssignedInspector) as refused:
        organisation_inspection().record_result("INS-Z", Verdict.PASS, "", T0)
    assert "only an assigned inspector records a result" in str(refused.value)
    assert "INS-Z" in str(refused.value) and "INSP-1" in str(refused.value)
    assert refused.value.status_code == 403


def test_only_an_assigned_inspector_records_a_spot_check():
    with pytest.raises(NotAssignedInspector):
        spot_check().record_spot_check("INS-Z", [SampleResult("CCC-1", True)], "", T0)


def test_a_pass_needs_no_findings_and_has_no_consequence():
    recorded = organisation_inspection().record_result("INS-B", Verdict.PASS, "", T0)
    assert recorded.inspection.result.verdict == Verdict.PASS
    assert recorded.consequences == () and recorded.credit_failure is None


@pytest.mark.parametrize("findings", ["", "   \n"])
def test_a_fail_requires_findings(findings):
    with pytest.raises(FindingsRequiredOnFail, match="findings are required on fail"):
        organisation_inspection().record_result("INS-A", Verdict.FAIL, findings, T0)


def test_a_failed_organisation_inspection_reports_the_failure_and_a_credit_failure():
    recorded = organisation_inspection().record_result("INS-A", Verdict.FAIL, "auditors lack competence", T0)
    assert recorded.consequences == (
        InspectionFailed("INSP-1", ORG, OrganisationKind.CERTIFICATION_BODY, "auditors lack competence"),
    )
    assert recorded.credit_failure == Failure(FailureKind.INSPECTION_FAILED, "INSP-1", T0)


def test_a_result_is_recorded_once():
    done = organisation_inspection().record_result("INS-A", Verdict.PASS, "", T0).inspection
    with pytest.raises(ResultAlreadyRecorded, match="a result is recorded once"):
        done.record_result("INS-B", Verdict.FAIL, "second opinion", T0)


def test_an_organisation_inspection_targets_a_body_or_a_lab():
    with pytest.raises(InvalidInspection, match="certification body or a lab"):
        organisation_inspection(target_kind=OrganisationKind.ENTERPRISE)


# --- product spot checks -------------------------------------------------------------------------


def test_a_spot_check_fails_if_any_sample_fails_naming_the_failed_certificates():
    samples = [
        SampleResult("CCC-2", False, "insulation"),
        SampleResult("CCC-1", True),
        SampleResult("CCC-3", False, "marking"),
        SampleResult("CCC-2", False, "creepage distance"),
    ]
    recorded = spot_check().record_spot_check("INS-A", samples, "products fail GB 4706.1", T0)

    assert recorded.inspection.result.verdict == Verdict.FAIL
    assert recorded.consequences == (SpotCheckFailed("SPOT-1", ORG, ("CCC-2", "CCC-3"), "products fail GB 4706.1"),)
    assert recorded.credit_failure == Failure(FailureKind.SPOT_CHECK_FAILED, "SPOT-1", T0)


def test_a_spot_check_passes_when_every_sample_passes():
    samples = [SampleResult("CCC-1", True), SampleResult("CCC-2", True)]
    recorded = spot_check().record_spot_check("INS-B", samples, "", T0)
    assert recorded.inspection.result.verdict == Verdict.PASS
    assert recorded.consequences == () and recorded.credit_failure is None


def test_a_failed_spot_check_requires_findings():
    with pytest.raises(FindingsRequiredOnFail):
        spot_check().record_spot_check("INS-A", [SampleResult("CCC-1", False)], "", T0)


def test_a_spot_check_is_recorded_with_per_certificate_sample_results():
    with pytest.raises(SampleResultsRequired, match="no sample result"):
        spot_check().record_spot_check("INS-A", [], "", T0)
    with pytest.raises(SampleResultsRequired, match="names its certificate"):
        spot_check().record_spot_check("INS-A", [SampleResult("", True)], "", T0)
    with pytest.raises(SampleResultsRequired, match="record_spot_check"):
        spot_check().record_result("INS-A", Verdict.PASS, "", T0)


@given(st.lists(st.tuples(st.sampled_from(["C1", "C2", "C3", "C4"]), st.booleans()), min_size=1, max_size=12))
def test_property_a_spot_check_fails_exactly_when_a_sample_fails(pairs):
    samples = [SampleResult(cert, passed) for cert, passed in pairs]
    recorded = spot_check().record_spot_check("INS-A", samples, "findings", T0)
    failed = sorted({cert for cert, passed in pairs if not passed})
    assert (recorded.inspection.result.verdict == Verdict.FAIL) == bool(failed)
    assert list(recorded.inspection.result.failed_certificates) == failed


# --- re-inspection verifies rectification ---------------------------------------------------------


def test_a_passed_re_inspection_verifies_rectification_of_the_failed_certificates():
    follow_up = Inspection.re_inspection_of(failed_spot_check(), "RE-1", {"INS-C", "INS-D"})
    recorded = follow_up.record_result("INS-C", Verdict.PASS, "", T0 + dt.timedelta(days=60))

    assert recorded.consequences == (RectificationVerified("RE-1", "SPOT-1", ORG, ("CCC-2", "CCC-3")),)
    assert recorded.credit_failure is None


def test_a_failed_re_inspection_verifies_nothing_and_counts_as_a_failure():
    follow_up = Inspection.re_inspection_of(failed_spot_check(), "RE-1", {"INS-C", "INS-D"})
    recorded = follow_up.record_result("INS-D", Verdict.FAIL, "still non-conforming", T0)
    assert recorded.consequences == ()
    assert recorded.credit_failure.kind == FailureKind.SPOT_CHECK_FAILED


def test_only_a_failed_spot_check_is_re_inspected():
    passed = spot_check().record_spot_check("INS-A", [SampleResult("CCC-1", True)], "", T0).inspection
    with pytest.raises(InvalidInspection, match="only a failed spot check"):
        Inspection.re_inspection_of(passed, "RE-1", {"INS-C"})
    with pytest.raises(InvalidInspection, match="only a failed spot check"):
        Inspection.re_inspection_of(spot_check(), "RE-1", {"INS-C"})
    with pytest.raises(InvalidInspection, match="only a product spot check"):
        Inspection.re_inspection_of(organisation_inspection(), "RE-1", {"INS-C"})


def test_only_an_assigned_inspector_records_a_re_inspection():
    follow_up = Inspection.re_inspection_of(failed_spot_check(), "RE-1", {"INS-C"})
    with pytest.raises(NotAssignedInspector):
        follow_up.record_result("INS-A", Verdict.PASS, "", T0)


# --- the inspection lifecycle: recording as the inspector submits it --------------------------------


def test_the_inspection_lifecycle_is_assigned_then_completed_once():
    assert INSPECTION_TRANSITIONS[InspectionAction.RECORD] == (
        frozenset({InspectionStatus.ASSIGNED}), InspectionStatus.COMPLETED
    )
    opened = organisation_inspection()
    done = opened.record("INS-A", "pass", "", (), T0).inspection
    assert (opened.status, done.status) == (InspectionStatus.ASSIGNED, InspectionStatus.COMPLETED)
    with pytest.raises(ResultAlreadyRecorded):
        done.record("INS-B", "fail", "second opinion", (), T0)


def test_an_unassigned_inspector_is_refused_before_anything_about_the_inspection():
    done = organisation_inspection().record("INS-A", "pass", "", (), T0).inspection
    with pytest.raises(NotAssignedInspector):
        done.record("INS-Z", None, "", (), T0)  # neither "already recorded" nor "verdict required"


def test_an_organisation_inspection_is_recorded_with_a_verdict_and_no_samples():
    with pytest.raises(VerdictRequired) as refused:
        organisation_inspection().record("INS-A", None, "", (), T0)
    assert (refused.value.field, refused.value.status_code) == ("verdict", 422)
    with pytest.raises(SamplesOnlyOnSpotChecks) as refused:
        organisation_inspection().record("INS-A", "pass", "", [SampleResult("CCC-1", True)], T0)
    assert refused.value.field == "samples"


def test_a_verdict_is_checked_before_a_second_result_on_an_organisation_inspection():
    done = organisation_inspection().record("INS-A", "pass", "", (), T0).inspection
    with pytest.raises(VerdictRequired):
        done.record("INS-B", None, "", (), T0)


def test_a_spot_check_verdict_follows_from_its_samples_and_a_contradicting_one_is_refused():
    failing = [SampleResult("CCC-1", False, "overheats")]
    with pytest.raises(VerdictContradictsSamples, match=r"verdict pass contradicts the sample results \(fail\)"):
        spot_check().record("INS-A", "pass", "overheats", failing, T0)
    recorded = spot_check().record("INS-A", "fail", "overheats", failing, T0)
    assert recorded.verdict == Verdict.FAIL
    assert spot_check().record("INS-A", None, "", [SampleResult("CCC-1", True)], T0).verdict == Verdict.PASS


def test_a_re_inspection_targets_the_enterprise_of_its_spot_check():
    with pytest.raises(ReInspectionOfAnotherTarget) as refused:
        Inspection.re_inspection_of(failed_spot_check(), "RE-1", {"INS-C"}, target_id="91110105MA0000000X")
    assert refused.value.field == "target_uscc"
    assert Inspection.re_inspection_of(failed_spot_check(), "RE-1", {"INS-C"}, target_id=ORG).target_id == ORG


def test_a_drawn_organisation_is_inspected_and_a_drawn_enterprise_spot_checked():
    body = DrawnTarget(ORG, OrganisationKind.TESTING_LAB, A, ("INS-A", "INS-B"))
    enterprise = DrawnTarget(ORG, OrganisationKind.ENTERPRISE, A, ("INS-A", "INS-B"))
    assert Inspection.of_drawn_target("I-1", body).kind == InspectionKind.ORGANISATION_INSPECTION
    opened = Inspection.of_drawn_target("I-2", enterprise)
    assert (opened.kind, opened.status, opened.inspector_ids) == (
        InspectionKind.PRODUCT_SPOT_CHECK, InspectionStatus.ASSIGNED, frozenset({"INS-A", "INS-B"})
    )


@pytest.mark.parametrize(
    ("registered", "names"),
    [
        ({}, "inspector INS-A is not registered"),
        ({"INS-A": Inspector("INS-A", "Zhang San", "91110000MA0000000X", "110000", False)}, "is not active"),
        ({"INS-A": Inspector("INS-A", "Zhang San", ORG, "110000")}, "works for the target"),
    ],
)
def test_only_registered_active_inspectors_without_a_conflict_are_assigned(registered, names):
    with pytest.raises(InspectorNotAssignable, match=names) as refused:
        check_assignable(ORG, ["INS-A"], registered)
    assert refused.value.field == "inspector_ids"
    check_assignable(ORG, ["INS-B"], {"INS-B": Inspector("INS-B", "Li Si", "91110000MA0000000X", "110000")})


# --- the campaign lifecycle ---------------------------------------------------------------------


HOUR = dt.timedelta(hours=1)
NOTARY = "notary-fuzhou"
BEACON = "China Welfare Lottery 3D, draw of 2024-05-02"


def campaign(parameters: CampaignParameters | None = None, **overrides) -> Campaign:
    """A campaign of the regulator and the notary office, revealed within the hour, the beacon an hour later."""
    parameters = parameters or CampaignParameters(kinds=frozenset(OrganisationKind), ratios=dict.fromkeys(CREDIT_ORDER, "1"))
    schedule = {"observers": [NOTARY], "reveal_deadline": T0 + HOUR, "beacon_source": BEACON, "beacon_due": T0 + 2 * HOUR}
    return Campaign.create("CAMP-1", "2024 H1", parameters, at=T0, **(schedule | overrides))


def secret_of(party: str) -> str:
    return f"{party}'s secret, 32 characters or more: 9f2c71e0"


def committed(created: Campaign, at: dt.datetime = T0 + dt.timedelta(minutes=1)) -> Campaign:
    for party in created.parties:
        created = created.commit(party.id, commitment(party.id, secret_of(party.id)), at)
    return created


def frozen_campaign(inspectors: int = 3, at: dt.datetime = T0 + dt.timedelta(minutes=2)) -> Frozen:
    return committed(campaign()).freeze(*directory_of(inspectors), at)


def directory_of(inspectors: int) -> tuple[list[Target], list[Inspector], dict[str, tuple[str, ...]]]:
    targets = [Target(ORG, OrganisationKind.ENTERPRISE, "Beijing Kettle Works", B)]
    people = [Inspector(f"INS-{i}", f"Inspector {i}", "91110000MA0000000X", "110000") for i in range(inspectors)]
    return targets, people, {}


def test_the_campaign_lifecycle_is_committed_frozen_revealed_then_drawn_once():
    assert CAMPAIGN_TRANSITIONS[CampaignAction.DRAW] == (frozenset({CampaignStatus.FROZEN}), CampaignStatus.DRAWN)
    assert CAMPAIGN_TRANSITIONS[CampaignAction.FREEZE] == (frozenset({CampaignStatus.CREATED}), CampaignStatus.FROZEN)
    created = campaign()
    assert [p.id for p in created.parties] == [NOTARY, "regulator"]
    frozen = frozen_campaign()
    assert frozen.campaign.status == CampaignStatus.FROZEN
    assert frozen.campaign.snapshot_hash == hashlib.sha256(frozen.snapshot_bytes).hexdigest()
    revealed = frozen.campaign
    for party in (NOTARY, "regulator"):
        revealed = revealed.reveal(party, secret_of(party), T0 + dt.timedelta(minutes=30))

    drawn = revealed.draw(frozen.snapshot_bytes, "4 7 1", T0 + 2 * HOUR)

    assert (created.status, drawn.campaign.status) == (CampaignStatus.CREATED, CampaignStatus.DRAWN)
    assert drawn.campaign.snapshot_hash == drawn.result.snapshot_hash == frozen.campaign.snapshot_hash
    assert drawn.campaign.seed == drawn.result.seed == derive_seed(
        frozen.campaign.snapshot_hash, {p: secret_of(p) for p in (NOTARY, "regulator")}, "4 7 1"
    )
    assert (drawn.campaign.beacon.value, drawn.campaign.beacon.recorded_at) == ("4 7 1", T0 + 2 * HOUR)
    assert [t.target_id for t in drawn.result.targets] == [ORG]
    with pytest.raises(CampaignAlreadyDrawn, match="never redrawn") as refused:
        drawn.campaign.draw(frozen.snapshot_bytes, "4 7 1", T0 + 3 * HOUR)
    assert refused.value.status_code == 409


def test_a_campaign_with_too_few_inspectors_is_not_frozen_and_stays_created():
    created = committed(campaign())
    with pytest.raises(DrawRefused) as refused:
        created.freeze(*directory_of(1), T0 + dt.timedelta(minutes=2))
    assert refused.value.body()["shortfall_count"] == 1
    assert created.status == CampaignStatus.CREATED


def test_the_freeze_checks_every_target_that_could_be_drawn_not_only_those_that_will_be():
    # Class A at 5 %: one of the two bodies will be drawn, which one depends on the seed, unknown yet.
    parameters = CampaignParameters(kinds=frozenset(OrganisationKind), ratios={"A": "0.05", "B": "0.2", "C": "0.6", "D": "1"})
    other = "91110000MA0000001X"
    targets = [
        Target(ORG, OrganisationKind.CERTIFICATION_BODY, "Body", A), Target(other, OrganisationKind.TESTING_LAB, "Lab", A)
    ]
    people = [Inspector("INS-1", "Zhang San", ORG, "110000"), Inspector("INS-2", "Li Si", "91110000MA0000000X", "110000"),
              Inspector("INS-3", "Wang Wu", "91110000MA0000000X", "110000")]
    created = committed(campaign(parameters))
    with pytest.raises(DrawRefused) as refused:  # ORG keeps 2 eligible but INS-2 inspected it last time
        created.freeze(targets, people, {ORG: ("INS-2",)}, T0 + dt.timedelta(minutes=2))
    [shortfall] = refused.value.shortfalls
    assert (shortfall.target_id, shortfall.eligible, shortfall.same_organisation, shortfall.previous_campaign) == (ORG, 1, 1, 1)
    assert created.freeze(targets, people, {}, T0 + dt.timedelta(minutes=2)).campaign.status == CampaignStatus.FROZEN


def test_a_campaign_names_an_outside_observer_and_a_beacon_due_after_its_reveal_deadline():
    cases = [
        ({"observers": []}, "observers"),
        ({"observers": ["regulator"]}, "observers"),
        ({"beacon_source": "  "}, "beacon_source"),
        ({"reveal_deadline": T0}, "reveal_deadline"),  # already passed when created at T0
        ({"beacon_due": T0 + HOUR}, "beacon_due"),  # not after the reveal deadline
    ]
    for change, field in cases:
        with pytest.raises(InvalidCampaign) as refused:
            campaign(**change)
        assert (refused.value.status_code, refused.value.field) == (422, field), change


def test_a_party_acts_only_for_itself():
    with pytest.raises(NotAParty) as refused:
        campaign().commit("notary-xiamen", commitment("notary-xiamen", secret_of("notary-xiamen")), T0)
    assert refused.value.status_code == 403


def test_a_reveal_opens_its_commitment_by_the_deadline_and_once():
    frozen = frozen_campaign().campaign
    with pytest.raises(RevealRefused) as refused:
        frozen.reveal(NOTARY, secret_of("regulator"), T0 + HOUR)
    assert refused.value.rules[0]["rule"] == "reveal_does_not_match_commitment"
    with pytest.raises(RevealRefused, match="at least 32 characters"):
        frozen.reveal(NOTARY, "short", T0 + HOUR)
    with pytest.raises(CampaignStepRefused) as refused:
        frozen.reveal(NOTARY, secret_of(NOTARY), T0 + HOUR + dt.timedelta(microseconds=1))
    assert refused.value.rules[0]["rule"] == "reveal_by_the_deadline"
    revealed = frozen.reveal(NOTARY, secret_of(NOTARY), T0 + HOUR)  # at the deadline itself: in time
    with pytest.raises(CampaignStepRefused, match="already"):
        revealed.reveal(NOTARY, secret_of(NOTARY), T0 + HOUR)


def test_a_party_that_never_reveals_is_withheld_and_counts_with_an_empty_secret():
    frozen = frozen_campaign()
    revealed = frozen.campaign.reveal("regulator", secret_of("regulator"), T0 + HOUR)
    with pytest.raises(CampaignStepRefused) as refused:  # the beacon is not published yet
        revealed.draw(frozen.snapshot_bytes, "4 7 1", T0 + 2 * HOUR - dt.timedelta(seconds=1))
    assert refused.value.rules[0]["rule"] == "draw_after_beacon_due"

    drawn = revealed.draw(frozen.snapshot_bytes, "4 7 1", T0 + 2 * HOUR)

    assert drawn.campaign.withheld == (NOTARY,)
    secrets = {NOTARY: "", "regulator": secret_of("regulator")}
    assert drawn.campaign.seed == derive_seed(drawn.campaign.snapshot_hash, secrets, "4 7 1")
    assert verify_record(drawn.campaign.record(json.loads(drawn.result.to_json())), frozen.snapshot_bytes).ok


def test_a_frozen_campaign_takes_no_new_commitment_and_is_frozen_before_the_reveal_deadline():
    frozen = frozen_campaign().campaign
    with pytest.raises(CampaignStepRefused) as refused:
        frozen.commit(NOTARY, commitment(NOTARY, "another secret of thirty-two characters"), T0 + HOUR)
    assert refused.value.rules[0]["rule"] == "commitments_before_freeze"
    with pytest.raises(CampaignStepRefused) as refused:
        committed(campaign()).freeze(*directory_of(3), T0 + HOUR)
    assert refused.value.rules[0]["rule"] == "freeze_before_reveal_deadline"


def test_a_campaign_is_cancelled_with_a_reason_before_its_draw():
    cancelled = frozen_campaign().campaign.cancel("the lottery draw was postponed", T0 + HOUR)
    assert (cancelled.status, cancelled.cancel_reason, cancelled.cancelled_at) == (
        CampaignStatus.CANCELLED, "the lottery draw was postponed", T0 + HOUR
    )
    with pytest.raises(CampaignStepRefused) as refused:
        cancelled.reveal("regulator", secret_of("regulator"), T0 + HOUR)
    assert refused.value.rules[0]["rule"] == "reveal_after_freeze"


# --- the directory --------------------------------------------------------------------------------


def test_every_organisation_kind_is_a_drawable_target_kind_and_unknown_is_not():
    assert {k.value for k in DRAWABLE_KINDS} == {k.value for k in OrganisationKind}
    assert TargetKind.UNKNOWN not in DRAWABLE_KINDS


# --- the campaign's ratios: lower credit, higher ratio, and something to draw ----------------------


@pytest.mark.parametrize(
    "ratios",
    [
        {"A": "1", "B": "1", "C": "1", "D": "0"},  # the best class drawn whole, the worst not at all
        {"A": "0.05", "B": "0.6", "C": "0.2", "D": "1"},  # C below B
        {"A": "0.5", "B": "0.2", "C": "0.6", "D": "1"},  # B below A
    ],
)
def test_ratios_that_fall_as_credit_falls_are_refused(ratios):
    parameters = CampaignParameters(kinds=frozenset(OrganisationKind), ratios=ratios)
    with pytest.raises(InvalidCampaign) as refused:
        campaign(parameters)
    assert (refused.value.status_code, refused.value.field) == (422, "ratios")
    assert refused.value.rules[0]["rule"] == "ratios_rise_as_credit_falls"


def test_a_campaign_whose_every_ratio_is_zero_is_refused():
    parameters = CampaignParameters(kinds=frozenset(OrganisationKind), ratios=dict.fromkeys("ABCD", "0"))
    with pytest.raises(InvalidCampaign) as refused:
        campaign(parameters)
    assert (refused.value.status_code, refused.value.field) == (422, "ratios")
    assert refused.value.rules[0]["rule"] == "campaign_draws_something"


def test_equal_ratios_and_ratios_rising_to_d_are_accepted():
    for ratios in ({"A": "0.2", "B": "0.2", "C": "0.2", "D": "0.2"}, {"A": "0", "B": "0", "C": "0", "D": "1"}):
        parameters = CampaignParameters(kinds=frozenset(OrganisationKind), ratios=ratios)
        assert campaign(parameters).status == CampaignStatus.CREATED


# --- inspections ordered by hand: the draw's assignment rules, or an override with its reason ---------

OTHER_ORG = "91110000MA0000000X"


def registered_inspectors(*ids: str) -> dict[str, Inspector]:
    return {i: Inspector(i, f"Inspector {i}", OTHER_ORG, "110000") for i in ids}


def test_an_inspection_ordered_by_hand_needs_two_inspectors_unless_overridden():
    from supervision.domain import AssignmentNeedsOverride, AssignmentOverride, check_order

    with pytest.raises(AssignmentNeedsOverride) as refused:
        check_order(ORG, ["INS-A"], registered_inspectors("INS-A"), previous_inspectors=())
    assert (refused.value.status_code, refused.value.field) == (422, "inspector_ids")
    assert [r["rule"] for r in refused.value.rules] == ["min_inspectors_per_target"]
    assert check_order(ORG, ["INS-A", "INS-B"], registered_inspectors("INS-A", "INS-B"), previous_inspectors=()) is None

    override = AssignmentOverride.of(["min_inspectors_per_target"], "only one certified kettle tester in the region")
    granted = check_order(ORG, ["INS-A"], registered_inspectors("INS-A"), previous_inspectors=(), override=override)
    assert granted == override
    assert granted.reason == "only one certified kettle tester in the region"


def test_an_inspector_of_the_previous_campaign_is_refused_unless_overridden():
    from supervision.domain import AssignmentNeedsOverride, AssignmentOverride, check_order

    people = registered_inspectors("INS-A", "INS-B", "INS-C")
    with pytest.raises(AssignmentNeedsOverride) as refused:
        check_order(ORG, ["INS-A", "INS-B"], people, previous_inspectors=("INS-B", "INS-X"))
    [rule] = refused.value.rules
    assert rule["rule"] == "previous_campaign_conflict" and "INS-B" in rule["detail"]
    assert check_order(ORG, ["INS-A", "INS-C"], people, previous_inspectors=("INS-B",)) is None
    override = AssignmentOverride.of(["previous_campaign_conflict"], "the only inspector who speaks Uyghur")
    assert check_order(ORG, ["INS-A", "INS-B"], people, ("INS-B",), override) == override


def test_an_override_names_every_rule_it_sets_aside_and_only_those():
    from supervision.domain import AssignmentNeedsOverride, AssignmentOverride, InvalidOverride, check_order

    people = registered_inspectors("INS-A", "INS-B")
    only_count = AssignmentOverride.of(["min_inspectors_per_target"], "urgent")
    with pytest.raises(AssignmentNeedsOverride) as refused:  # the previous-campaign rule is broken too
        check_order(ORG, ["INS-B"], people, ("INS-B",), only_count)
    assert [r["rule"] for r in refused.value.rules] == ["previous_campaign_conflict"]
    with pytest.raises(InvalidOverride) as refused:  # nothing to set aside
        check_order(ORG, ["INS-A", "INS-B"], people, (), only_count)
    assert refused.value.field == "override.rules" and refused.value.rules[0]["rule"] == "override_not_needed"


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_override_without_a_reason_is_refused(reason):
    from supervision.domain import AssignmentOverride, InvalidOverride

    with pytest.raises(InvalidOverride) as refused:
        AssignmentOverride.of(["min_inspectors_per_target"], reason)
    assert (refused.value.status_code, refused.value.field) == (422, "override.reason")
    assert refused.value.rules[0]["rule"] == "override_reason_required"


@pytest.mark.parametrize("rules", [[], ["own_organisation_conflict"], ["inspector_active"], ["no_such_rule"]])
def test_only_the_inspector_count_and_the_previous_campaign_rule_may_be_overridden(rules):
    from supervision.domain import AssignmentOverride, InvalidOverride

    with pytest.raises(InvalidOverride) as refused:
        AssignmentOverride.of(rules, "a reason")
    assert refused.value.field == "override.rules"


def test_own_organisation_and_inactive_inspectors_are_refused_even_with_an_override():
    from supervision.domain import AssignmentOverride, check_order

    override = AssignmentOverride.of(["min_inspectors_per_target"], "urgent")
    with pytest.raises(InspectorNotAssignable, match="works for the target"):
        check_order(ORG, ["INS-A"], {"INS-A": Inspector("INS-A", "Zhang San", ORG, "110000")}, (), override)
    with pytest.raises(InspectorNotAssignable, match="not active"):
        check_order(ORG, ["INS-A"], {"INS-A": Inspector("INS-A", "Zhang San", OTHER_ORG, "110000", False)}, (), override)
