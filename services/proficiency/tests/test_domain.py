"""Tests of the proficiency rules: round lifecycle, blind samples, suspension."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proficiency.domain import (
    AssignedValueMethod,
    BlindSample,
    Cancellation,
    ClosingDecision,
    InvalidClosingDecision,
    InvalidInput,
    RoundCancelled,
    RoundEvaluableAsDesigned,
    SigmaPtMethod,
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
    RobustSigmaPt,
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


# --- A way out for a round its results cannot evaluate: cancel, or close with values chosen then ---

REGULATOR_ACTOR = "regulator:desk-7"


def consensus_round(results: dict[str, float], sigma_pt: FixedSigmaPt | RobustSigmaPt | None = None) -> ProficiencyRound:
    design = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=sigma_pt or RobustSigmaPt())
    pt_round = ProficiencyRound("PT-9", field="F", measurand="lead", unit="µg/L", deadline=DEADLINE, design=design,
                                enrolled_labs=list(results) + ["lab-silent"])
    for lab_id, value in results.items():
        pt_round.submit(lab_id, value, at=BEFORE)
    return pt_round


def test_a_round_with_too_few_results_for_its_consensus_is_cancelled_with_a_reason():
    pt_round = consensus_round({"lab-A": 10.0, "lab-B": 10.4})
    with pytest.raises(RoundCannotBeEvaluated):
        pt_round.close(at=AFTER)

    cancellation = pt_round.cancel("two results: no consensus", by=REGULATOR_ACTOR, at=AFTER)

    assert pt_round.status is RoundStatus.CANCELLED
    assert cancellation == Cancellation("two results: no consensus", REGULATOR_ACTOR, AFTER)
    assert pt_round.cancellation == cancellation and pt_round.evaluation is None


def test_a_cancelled_round_takes_nothing_more_and_is_neither_closed_nor_cancelled_again():
    pt_round = consensus_round({"lab-A": 10.0})
    pt_round.cancel("sample contaminated", by=REGULATOR_ACTOR, at=BEFORE)

    refusals = [
        lambda: pt_round.submit("lab-silent", 10.1, at=BEFORE),
        lambda: pt_round.enrol(["lab-Z"], at=BEFORE),
        lambda: pt_round.close(at=AFTER),
        lambda: pt_round.close_with_chosen_values(None, FixedSigmaPt(0.5), reason="r", by=REGULATOR_ACTOR, at=AFTER),
        lambda: pt_round.cancel("again", by=REGULATOR_ACTOR, at=AFTER),
    ]
    for refused in refusals:
        with pytest.raises(RoundCancelled) as answer:
            refused()
        assert answer.value.status_code == 409 and answer.value.field == "status"
        assert "is cancelled" in answer.value.message


def test_a_closed_round_cannot_be_cancelled():
    pt_round = open_round()
    pt_round.close(at=AFTER)

    with pytest.raises(RoundClosed):
        pt_round.cancel("too late", by=REGULATOR_ACTOR, at=AFTER)
    assert pt_round.status is RoundStatus.CLOSED


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_cancellation_states_its_reason(reason):
    pt_round = open_round()

    with pytest.raises(InvalidInput) as refused:
        pt_round.cancel(reason, by=REGULATOR_ACTOR, at=BEFORE)
    assert refused.value.field == "reason" and refused.value.status_code == 422
    assert pt_round.status is RoundStatus.OPEN


def test_a_round_too_small_for_algorithm_a_closes_with_a_reference_value_and_sigma_chosen_then():
    """x_pt = 10 (U 0.2, k 2: u = 0.1 < 0.3 x 0.5), sigma_pt = 0.5: z = 0.8 and 4.0 by hand."""
    pt_round = consensus_round({"lab-A": 10.4, "lab-B": 12.0})

    evaluation = pt_round.close_with_chosen_values(
        ReferenceAssignedValue(10.0, 0.2, 2.0), FixedSigmaPt(0.5),
        reason="two results: the CRM value instead", by=REGULATOR_ACTOR, at=AFTER,
    )

    assert pt_round.status is RoundStatus.CLOSED and pt_round.evaluation is evaluation
    assert (evaluation.assigned_value, evaluation.sigma_pt, evaluation.robust_estimate) == (10.0, 0.5, None)
    assert (evaluation.assigned_value_method, evaluation.sigma_pt_method) == (
        AssignedValueMethod.REFERENCE, SigmaPtMethod.FIXED
    )
    assert [(p.lab_id, p.score, p.signal) for p in evaluation.labs] == [
        ("lab-A", pytest.approx(0.8), Signal.ACCEPTABLE), ("lab-B", pytest.approx(4.0), Signal.ACTION)
    ]
    decision = pt_round.closing_decision
    assert decision == ClosingDecision(
        ReferenceAssignedValue(10.0, 0.2, 2.0), FixedSigmaPt(0.5), "two results: the CRM value instead", REGULATOR_ACTOR,
        AFTER,
    )
    assert decision.chosen == ("assigned_value", "sigma_pt")


def test_more_than_half_identical_results_close_with_a_fixed_sigma_pt_chosen_then():
    """s* = 0 leaves x* = median = 3 usable; sigma_pt 0.5 chosen: z(9) = 6 / 0.5 = 12."""
    pt_round = consensus_round({"lab-A": 3.0, "lab-B": 3.0, "lab-C": 3.0, "lab-D": 4.0, "lab-E": 9.0})
    with pytest.raises(RoundCannotBeEvaluated, match="s\\* is 0"):
        pt_round.close(at=AFTER)

    evaluation = pt_round.close_with_chosen_values(None, FixedSigmaPt(0.5), reason="MAD 0", by=REGULATOR_ACTOR, at=AFTER)

    assert evaluation.assigned_value == 3.0 and evaluation.sigma_pt == 0.5
    assert evaluation.assigned_value_method is AssignedValueMethod.CONSENSUS
    assert evaluation.for_lab("lab-E").score == pytest.approx(12.0)
    assert pt_round.closing_decision is not None and pt_round.closing_decision.chosen == ("sigma_pt",)


def test_values_chosen_at_closing_replace_only_what_the_results_were_to_give():
    """A stated reference value or a fixed sigma_pt is not chosen again once results are in."""
    design = RoundDesign(ReferenceAssignedValue(10.0, 0.2, 2.0), RobustSigmaPt())
    pt_round = ProficiencyRound("PT-1", field="F", measurand="lead", unit="µg/L", deadline=DEADLINE, design=design,
                                enrolled_labs=["lab-A"])
    pt_round.submit("lab-A", 10.4, at=BEFORE)

    with pytest.raises(InvalidClosingDecision) as refused:
        pt_round.close_with_chosen_values(
            ReferenceAssignedValue(10.4, 0.2, 2.0), FixedSigmaPt(0.5), reason="r", by=REGULATOR_ACTOR, at=AFTER
        )
    assert refused.value.field == "assigned_value" and refused.value.status_code == 422
    assert pt_round.status is RoundStatus.OPEN


def test_a_closing_decision_chooses_something_and_says_why():
    pt_round = consensus_round({"lab-A": 10.0})

    with pytest.raises(InvalidClosingDecision) as nothing:
        pt_round.close_with_chosen_values(None, None, reason="r", by=REGULATOR_ACTOR, at=AFTER)
    assert nothing.value.field == "assigned_value"
    with pytest.raises(InvalidInput) as no_reason:
        pt_round.close_with_chosen_values(None, FixedSigmaPt(0.5), reason=" ", by=REGULATOR_ACTOR, at=AFTER)
    assert no_reason.value.field == "reason"
    assert pt_round.status is RoundStatus.OPEN


def test_values_chosen_that_still_leave_the_round_unevaluable_are_refused_naming_the_part_left():
    pt_round = consensus_round({"lab-A": 10.0, "lab-B": 10.4})

    with pytest.raises(InvalidClosingDecision, match="at least 3") as refused:
        pt_round.close_with_chosen_values(ReferenceAssignedValue(10.0, 0.2, 2.0), None, reason="r", by=REGULATOR_ACTOR,
                                          at=AFTER)
    assert refused.value.field == "sigma_pt" and refused.value.status_code == 422
    assert pt_round.status is RoundStatus.OPEN and pt_round.closing_decision is None


def test_a_round_its_design_can_evaluate_is_closed_as_designed():
    pt_round = consensus_round({"lab-A": 10.0, "lab-B": 10.4, "lab-C": 9.9}, FixedSigmaPt(0.5))

    with pytest.raises(RoundEvaluableAsDesigned) as refused:
        pt_round.close_with_chosen_values(ReferenceAssignedValue(10.0, 0.2, 2.0), None, reason="r", by=REGULATOR_ACTOR,
                                          at=AFTER)
    assert refused.value.status_code == 409 and refused.value.field == "status"
    assert pt_round.status is RoundStatus.OPEN


def test_values_are_chosen_at_closing_only_after_the_deadline():
    pt_round = consensus_round({"lab-A": 10.0})

    with pytest.raises(RoundStillOpen):
        pt_round.close_with_chosen_values(None, FixedSigmaPt(0.5), reason="r", by=REGULATOR_ACTOR, at=BEFORE)


def test_round_lifecycle_table_cancels_and_closes_with_chosen_values_only_from_open():
    assert ROUND_TRANSITIONS[RoundAction.CANCEL] == (frozenset({RoundStatus.OPEN}), RoundStatus.CANCELLED)
    assert ROUND_TRANSITIONS[RoundAction.CLOSE_WITH_CHOSEN_VALUES] == (frozenset({RoundStatus.OPEN}), RoundStatus.CLOSED)
