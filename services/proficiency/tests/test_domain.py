"""Tests of the proficiency rules: round lifecycle, blind samples, suspension."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proficiency.domain import (
    BlindSample,
    BlindSampleAction,
    BlindSampleOutcome,
    BlindSampleStatus,
    DeadlinePassed,
    EnrolmentAfterDeadline,
    InvalidBlindSample,
    InvalidMeasurement,
    RoundAction,
    RoundCannotBeEvaluated,
    SampleAlreadyReported,
    DuplicateSubmission,
    LabNotEnrolled,
    LateSubmission,
    ProficiencyRound,
    ProficiencyRuleViolation,
    RoundClosed,
    RoundOutcome,
    RoundStatus,
    RoundStillOpen,
    SuspensionRule,
    is_lab_failure,
    suspension_required,
)
from proficiency.domain.blind_sample import TRANSITIONS as SAMPLE_TRANSITIONS
from proficiency.domain.iso13528 import (
    ConsensusAssignedValue,
    FixedSigmaPt,
    ReferenceAssignedValue,
    RoundDesign,
    ScoreKind,
    Signal,
)
from proficiency.domain.round import TRANSITIONS as ROUND_TRANSITIONS

DEADLINE = datetime(2025, 6, 30, 17, 0, tzinfo=UTC)
BEFORE = DEADLINE - timedelta(days=1)
AFTER = DEADLINE + timedelta(seconds=1)
DESIGN = RoundDesign(
    assigned_value=ReferenceAssignedValue(value=10.0, expanded_uncertainty=0.2, coverage_factor=2.0),
    sigma_pt=FixedSigmaPt(0.5),
)


def open_round(enrolled=("lab-A", "lab-B", "lab-C")) -> ProficiencyRound:
    return ProficiencyRound(
        "PT-2025-07",
        field="heavy metals in water",
        measurand="lead",
        unit="µg/L",
        deadline=DEADLINE,
        design=DESIGN,
        enrolled_labs=enrolled,
    )


def action(round_id: str) -> RoundOutcome:
    return RoundOutcome(round_id, Signal.ACTION)


def warning(round_id: str) -> RoundOutcome:
    return RoundOutcome(round_id, Signal.WARNING)


def acceptable(round_id: str) -> RoundOutcome:
    return RoundOutcome(round_id, Signal.ACCEPTABLE)


# --- Round lifecycle -----------------------------------------------------------


def test_enrolled_lab_submits_before_deadline():
    pt_round = open_round()

    result = pt_round.submit("lab-A", 10.4, expanded_uncertainty=0.3, coverage_factor=2.0, at=BEFORE)

    assert pt_round.status is RoundStatus.OPEN
    assert pt_round.results == (result,)
    assert result.standard_uncertainty == pytest.approx(0.15)


def test_submission_exactly_at_the_deadline_is_on_time():
    pt_round = open_round()

    pt_round.submit("lab-A", 10.4, at=DEADLINE)

    assert len(pt_round.results) == 1


def test_late_submission_refused():
    pt_round = open_round()

    with pytest.raises(LateSubmission, match="after the deadline") as refused:
        pt_round.submit("lab-A", 10.4, at=AFTER)

    assert "rule: a round accepts results only until its deadline" in str(refused.value)
    assert pt_round.results == ()


def test_duplicate_submission_refused():
    pt_round = open_round()
    pt_round.submit("lab-A", 10.4, at=BEFORE)

    with pytest.raises(DuplicateSubmission, match="rule: a round takes one result per enrolled lab"):
        pt_round.submit("lab-A", 9.9, at=BEFORE + timedelta(hours=1))

    assert [r.value for r in pt_round.results] == [10.4]


def test_not_enrolled_lab_submission_refused():
    pt_round = open_round()

    with pytest.raises(LabNotEnrolled, match="rule: only labs enrolled in a round"):
        pt_round.submit("lab-Z", 10.0, at=BEFORE)


def test_domain_refusals_share_one_base_class():
    for refusal in (LateSubmission, DuplicateSubmission, LabNotEnrolled, RoundClosed, RoundStillOpen):
        assert issubclass(refusal, ProficiencyRuleViolation)


def test_round_cannot_be_closed_before_its_deadline():
    pt_round = open_round()

    with pytest.raises(RoundStillOpen):
        pt_round.close(at=BEFORE)

    assert pt_round.status is RoundStatus.OPEN


def test_closing_evaluates_the_round():
    pt_round = open_round()
    pt_round.submit("lab-A", 10.5, at=BEFORE)
    pt_round.submit("lab-B", 11.25, at=BEFORE)
    pt_round.submit("lab-C", 8.5, at=BEFORE)

    evaluation = pt_round.close(at=AFTER)

    assert pt_round.status is RoundStatus.CLOSED
    assert pt_round.evaluation is evaluation
    assert evaluation.assigned_value == 10.0
    assert [(p.lab_id, p.score_kind, p.signal) for p in evaluation.labs] == [
        ("lab-A", ScoreKind.Z, Signal.ACCEPTABLE),
        ("lab-B", ScoreKind.Z, Signal.WARNING),
        ("lab-C", ScoreKind.Z, Signal.ACTION),
    ]


def test_closed_round_refuses_submissions_and_a_second_closing():
    pt_round = open_round()
    pt_round.submit("lab-A", 10.5, at=BEFORE)
    pt_round.close(at=AFTER)

    with pytest.raises(RoundClosed):
        pt_round.submit("lab-B", 10.0, at=BEFORE)
    with pytest.raises(RoundClosed):
        pt_round.close(at=AFTER)


def test_round_times_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        open_round().submit("lab-A", 10.0, at=datetime(2025, 6, 1, 12, 0))


# --- Blind samples ---------------------------------------------------------------


def test_blind_sample_within_tolerance_passes_with_its_deviation():
    evaluation = BlindSample("BS-1", known_value=50.0, tolerance=2.0).evaluate(51.5)

    assert evaluation.passed
    assert evaluation.deviation == 1.5


def test_blind_sample_outside_tolerance_fails():
    evaluation = BlindSample("BS-1", known_value=50.0, tolerance=2.0).evaluate(47.5)

    assert not evaluation.passed
    assert evaluation.deviation == -2.5


def test_blind_sample_deviation_equal_to_tolerance_passes_despite_float_rounding():
    evaluation = BlindSample("BS-2", known_value=10.0, tolerance=0.3).evaluate(10.3)

    assert evaluation.deviation > 0.3  # 0.3000000000000007 in binary floating point
    assert evaluation.passed


# --- Consequences: lab failures and suspension ---------------------------------


def test_action_signal_and_failed_blind_sample_are_lab_failures():
    assert is_lab_failure(action("R1"))
    assert is_lab_failure(BlindSampleOutcome("BS-1", passed=False))
    assert not is_lab_failure(warning("R1"))
    assert not is_lab_failure(acceptable("R1"))
    assert not is_lab_failure(BlindSampleOutcome("BS-1", passed=True))


def test_two_action_signals_in_a_row_require_suspension():
    reason = suspension_required([acceptable("R1"), action("R2"), action("R3")])

    assert reason is not None
    assert reason.rule is SuspensionRule.TWO_ACTION_SIGNALS_IN_A_ROW
    assert reason.evidence == ("R2", "R3")
    assert "two action signals in a row" in str(reason)


def test_one_action_signal_does_not_require_suspension():
    assert suspension_required([acceptable("R1"), action("R2")]) is None


def test_warning_between_action_signals_breaks_the_run():
    assert suspension_required([action("R1"), warning("R2"), action("R3")]) is None


def test_acceptable_result_between_action_signals_breaks_the_run():
    assert suspension_required([action("R1"), acceptable("R2"), action("R3")]) is None


def test_failed_blind_sample_requires_suspension():
    reason = suspension_required([acceptable("R1"), BlindSampleOutcome("BS-7", passed=False)])

    assert reason is not None
    assert reason.rule is SuspensionRule.FAILED_BLIND_SAMPLE
    assert reason.evidence == ("BS-7",)


def test_passed_blind_sample_does_not_break_a_run_of_action_signals():
    history = [action("R1"), BlindSampleOutcome("BS-1", passed=True), action("R2")]

    reason = suspension_required(history)

    assert reason is not None
    assert reason.evidence == ("R1", "R2")


def test_clean_history_requires_no_suspension():
    assert suspension_required([]) is None
    clean = [acceptable("R1"), warning("R2"), BlindSampleOutcome("BS-1", passed=True)]
    assert suspension_required(clean) is None


def test_first_rule_met_is_the_reason_given():
    history = [BlindSampleOutcome("BS-1", passed=False), action("R1"), action("R2")]

    reason = suspension_required(history)

    assert reason is not None
    assert reason.rule is SuspensionRule.FAILED_BLIND_SAMPLE


# --- Lifecycles as transition tables ---------------------------------------------------


def test_round_lifecycle_table_lets_only_an_open_round_move():
    assert ROUND_TRANSITIONS[RoundAction.CLOSE] == (frozenset({RoundStatus.OPEN}), RoundStatus.CLOSED)
    for action in (RoundAction.ENROL, RoundAction.SUBMIT):
        assert ROUND_TRANSITIONS[action] == (frozenset({RoundStatus.OPEN}), RoundStatus.OPEN)


def test_round_is_opened_only_with_its_deadline_ahead():
    with pytest.raises(DeadlinePassed) as refused:
        ProficiencyRound.open("PT-1", field="F", measurand="lead", unit="µg/L", deadline=DEADLINE, design=DESIGN,
                              labs=["lab-A"], at=DEADLINE)
    assert refused.value.field == "deadline" and refused.value.status_code == 422

    opened = ProficiencyRound.open("PT-1", field="F", measurand="lead", unit="µg/L", deadline=DEADLINE, design=DESIGN,
                                   labs=["lab-A", "lab-A"], at=BEFORE)
    assert opened.status is RoundStatus.OPEN and opened.enrolled_labs == {"lab-A"}


def test_enrolling_twice_is_harmless_and_only_before_the_deadline():
    pt_round = open_round(enrolled=("lab-A",))

    assert pt_round.enrol(["lab-B", "lab-A", "lab-B"], at=BEFORE) == ["lab-B"]
    assert pt_round.enrolled_labs == {"lab-A", "lab-B"}
    with pytest.raises(EnrolmentAfterDeadline) as late:
        pt_round.enrol(["lab-C"], at=AFTER)
    assert late.value.status_code == 409 and late.value.field == "deadline"


def test_closed_round_takes_no_enrolment():
    pt_round = open_round()
    pt_round.close(at=AFTER)

    with pytest.raises(RoundClosed, match="no lab can be enrolled"):
        pt_round.enrol(["lab-Z"], at=BEFORE)


def test_refusals_answer_with_their_field_rule_and_status():
    pt_round = open_round()
    with pytest.raises(LabNotEnrolled) as refused:
        pt_round.submit("lab-Z", 10.0, at=BEFORE)

    assert refused.value.status_code == 403 and refused.value.field == "lab_uscc"
    assert refused.value.rules == [
        {"rule": LabNotEnrolled.rule, "field": "lab_uscc", "detail": "lab lab-Z is not enrolled in round PT-2025-07"}
    ]


def test_uncertainty_without_its_coverage_factor_is_refused_naming_the_field():
    with pytest.raises(InvalidMeasurement) as refused:
        open_round().submit("lab-A", 10.0, expanded_uncertainty=0.2, at=BEFORE)

    assert refused.value.field == "coverage_factor" and refused.value.status_code == 422


def test_round_without_enough_results_for_a_consensus_cannot_be_evaluated():
    design = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=FixedSigmaPt(0.5))
    pt_round = ProficiencyRound("PT-1", field="F", measurand="lead", unit="µg/L", deadline=DEADLINE, design=design,
                                enrolled_labs=["lab-A"])
    pt_round.submit("lab-A", 10.0, at=BEFORE)

    with pytest.raises(RoundCannotBeEvaluated, match="at least 3") as refused:
        pt_round.close(at=AFTER)
    assert refused.value.field == "results"
    assert pt_round.status is RoundStatus.OPEN


def test_blind_sample_is_reported_once():
    sample = BlindSample("BS-1", known_value=50.0, tolerance=2.0)

    verdict = sample.report_result("lab-A", 51.5, at=BEFORE)

    assert verdict.passed and sample.status is BlindSampleStatus.REPORTED
    assert sample.report is not None and sample.report.at == BEFORE
    with pytest.raises(SampleAlreadyReported) as twice:
        sample.report_result("lab-A", 50.0, at=AFTER)
    assert twice.value.status_code == 409 and twice.value.field == "sample_id"
    assert sample.report.value == 51.5


def test_blind_sample_lifecycle_table():
    assert SAMPLE_TRANSITIONS[BlindSampleAction.REPORT] == (
        frozenset({BlindSampleStatus.ASSIGNED}), BlindSampleStatus.REPORTED
    )


def test_blind_sample_needs_a_usable_tolerance():
    with pytest.raises(InvalidBlindSample) as refused:
        BlindSample("BS-1", known_value=50.0, tolerance=-1.0)
    assert refused.value.field == "tolerance"


def test_blind_sample_report_too_far_from_the_known_value_for_a_float_is_refused_naming_the_value():
    sample = BlindSample("BS-1", known_value=-1e308, tolerance=2.0)

    with pytest.raises(InvalidMeasurement) as refused:
        sample.report_result("lab-A", 1e308, at=BEFORE)

    assert refused.value.field == "value" and refused.value.status_code == 422
    assert sample.status is BlindSampleStatus.ASSIGNED and sample.report is None
