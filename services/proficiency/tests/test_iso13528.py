"""Tests of ISO 13528 statistics: Algorithm A, u(x_pt), scores, signals, round evaluation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proficiency.domain.iso13528 import (
    MINIMUM_RESULTS_FOR_ALGORITHM_A,
    AlgorithmADidNotConverge,
    AlgorithmAStopping,
    ConsensusAssignedValue,
    FixedSigmaPt,
    ParticipantResult,
    ReferenceAssignedValue,
    RobustSigmaPt,
    RoundDesign,
    ScoreKind,
    Signal,
    algorithm_a,
    en_score,
    evaluate_round,
    signal_for_en,
    signal_for_score,
    standard_uncertainty_from_expanded,
    standard_uncertainty_of_consensus,
    uncertainty_of_assigned_value_is_negligible,
    z_prime_score,
    z_score,
    zeta_score,
)

# Twelve results (lab: value), ISO 13528:2015 Annex E.3, as reproduced in
# S. Subramanian, "The Algorithm A in Detail" (22-02-2025), slides 3-7,
# https://slideorbit.com/slide/the-algorithm-a-in-detail-powerpoint-ppt-presentation/291515
ANNEX_E3_RESULTS = {
    "1": 1.69, "2": 0.74, "6": 2.05, "8": 1.14, "9": 2.19, "12": 1.39,
    "13": 1.52, "14": 1.50, "19": 1.58, "20": 0.80, "22": 1.21, "25": 1.63,
}  # fmt: skip


# --- Algorithm A: published example --------------------------------------------


def test_algorithm_a_reproduces_the_printed_iterations_of_iso_13528_annex_e3():
    """ISO 13528:2015 Annex E.3 data, iterations as printed in Subramanian's slides.

    Source: S. Subramanian, "The Algorithm A in Detail" (2025), which points to
    ISO 13528:2015 Annex E.3 and ISO 5725-5:1998 6.2 and prints, slides 4 to 7:
    initial x* = 1.510, s* = 0.3559; iteration 1: delta = 0.5339, x* = 1.475,
    s* = 0.4072; iteration 2: delta = 0.6109, x* = 1.460, s* = 0.4486;
    iteration 3: delta = 0.6728. Compared here to the digits printed. (The
    slides round the winsorising limits to the data's two decimals; that does
    not change the printed digits.) The slides stop before the final values,
    and the standard's own final table was not available to us.
    """
    estimate = algorithm_a(ANNEX_E3_RESULTS.values())
    start, first, second = estimate.steps[0], estimate.steps[1], estimate.steps[2]

    assert round(start.x_star, 3) == 1.510
    assert round(start.s_star, 4) == 0.3559
    assert round(1.5 * start.s_star, 4) == 0.5339
    assert round(first.x_star, 3) == 1.475
    assert round(first.s_star, 4) == 0.4072
    assert round(1.5 * first.s_star, 4) == 0.6109
    assert round(second.x_star, 3) == 1.460
    assert round(second.s_star, 4) == 0.4486
    assert round(1.5 * second.s_star, 4) == 0.6728


def test_algorithm_a_on_annex_e3_settles_where_no_result_is_winsorised():
    """Final x*, s* of the Annex E.3 data, justified without the standard's table.

    At a fixed point where every x_i lies inside [x* - 1.5 s*, x* + 1.5 s*],
    winsorising changes nothing, so x* is the plain mean and s* is 1.134 times
    the plain standard deviation (n - 1): both computed here straight from the
    twelve values, independently of Algorithm A's code. (Here the standard's rule stops at
    the same step, iteration 6, which repeats iteration 5 exactly.)
    """
    values = list(ANNEX_E3_RESULTS.values())
    estimate = algorithm_a(values, stopping=FULL)
    assert algorithm_a(values).x_star == estimate.x_star and algorithm_a(values).s_star == estimate.s_star

    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    assert estimate.x_star == pytest.approx(mean, rel=1e-12)
    assert estimate.s_star == pytest.approx(1.134 * sd, rel=1e-12)
    delta = 1.5 * estimate.s_star
    assert all(estimate.x_star - delta <= v <= estimate.x_star + delta for v in values)
    assert estimate.p == 12


# --- Algorithm A: the standard's stopping rule (C.3.1), or full convergence --------------

FULL = AlgorithmAStopping.FULL_CONVERGENCE

# Nine results by hand: median 24, |x - 24| sorted 0 1 2 6 8 10 11 11 19, so MAD 8.
NINE_RESULTS = [34, 24, 25, 30, 22, 35, 16, 13, 5]


def test_algorithm_a_stops_when_the_third_significant_figure_no_longer_changes():
    """ISO 13528:2015 C.3.1: stop when neither s* nor x* changes from one iteration to the next
    in s*'s third significant figure (x* at the same decimal place), by hand:

    start:       x* = 24,      s* = 1.483 x 8 = 11.864
    iteration 1: delta = 17.796, 5 -> 6.204;  x* = 205.204 / 9 = 22.8004, s* = 10.9854
    iteration 2: delta = 16.478, 5 -> 6.3224; x* = 22.8136,             s* = 10.9567
    s* 10.9854 and 10.9567 are both 11.0, x* 22.8004 and 22.8136 both 22.8: stop after 2.
    Iterated on, the fixed point is x* = 22.8255, s* = 10.9309, which rounds to 10.9.
    """
    estimate = algorithm_a(NINE_RESULTS)

    assert estimate.stopping is AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE
    assert estimate.iterations == 2
    assert estimate.steps[1].x_star == pytest.approx(22.8004, abs=5e-5)
    assert estimate.steps[1].s_star == pytest.approx(10.9854, abs=5e-5)
    assert estimate.x_star == pytest.approx(22.8136, abs=5e-5)
    assert estimate.s_star == pytest.approx(10.9567, abs=5e-5)
    assert (round(estimate.x_star, 1), round(estimate.s_star, 1)) == (22.8, 11.0)


def test_algorithm_a_iterates_to_full_convergence_when_the_round_says_so():
    converged = algorithm_a(NINE_RESULTS, stopping=AlgorithmAStopping.FULL_CONVERGENCE)

    assert converged.stopping is AlgorithmAStopping.FULL_CONVERGENCE
    assert converged.iterations > 2
    assert converged.x_star == pytest.approx(22.8255, abs=5e-5)
    assert converged.s_star == pytest.approx(10.9309, abs=5e-5)
    assert (round(converged.x_star, 1), round(converged.s_star, 1)) == (22.8, 10.9)


def test_third_figure_rule_compares_x_star_at_the_decimal_place_of_s_stars_third_figure():
    """s* = 0.0123 sets the place at 0.0001: x* 100.00012 and 100.00014 are the same there,
    100.00012 and 100.00018 are not, whatever x*'s own third significant figure (100)."""
    from proficiency.domain.iso13528 import AlgorithmAStep, third_significant_figure_unchanged

    assert third_significant_figure_unchanged(AlgorithmAStep(100.00012, 0.01231), AlgorithmAStep(100.00014, 0.01229))
    assert not third_significant_figure_unchanged(AlgorithmAStep(100.00012, 0.0123), AlgorithmAStep(100.00018, 0.0123))
    assert not third_significant_figure_unchanged(AlgorithmAStep(100.0, 0.0123), AlgorithmAStep(100.0, 0.0124))


def test_round_design_takes_the_standards_stopping_rule_unless_it_chooses_full_convergence():
    results = [ParticipantResult(f"lab{i}", v) for i, v in enumerate(NINE_RESULTS)]
    default = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=RobustSigmaPt())
    full = RoundDesign(ConsensusAssignedValue(), RobustSigmaPt(), AlgorithmAStopping.FULL_CONVERGENCE)

    assert default.algorithm_a_stopping is AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE
    by_the_standard, converged = evaluate_round(results, default), evaluate_round(results, full)
    assert by_the_standard.robust_estimate.stopping is AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE
    assert by_the_standard.sigma_pt == pytest.approx(10.9567, abs=5e-5)
    assert converged.robust_estimate.stopping is AlgorithmAStopping.FULL_CONVERGENCE
    assert converged.sigma_pt == pytest.approx(10.9309, abs=5e-5)


# --- Algorithm A: hand-computed cases and edge cases ---------------------------


def test_algorithm_a_on_data_without_outliers_is_mean_and_scaled_sd():
    """10, 11, 12, 13, 14 by hand: median 12, MAD 1, s* = 1.483, delta = 2.2245.

    Nothing lies outside 12 +/- 2.2245, so x* = 12 and s* = 1.134 sqrt(2.5);
    the next delta (2.69) clips nothing either, so the second iteration changes
    nothing and the algorithm stops there.
    """
    estimate = algorithm_a([14, 10, 13, 11, 12])

    assert estimate.steps[0].x_star == 12
    assert estimate.steps[0].s_star == pytest.approx(1.483)
    assert estimate.x_star == pytest.approx(12)
    assert estimate.s_star == pytest.approx(1.134 * math.sqrt(2.5))
    assert estimate.iterations == 2


def test_algorithm_a_first_iteration_winsorises_an_outlier_by_hand():
    """1, 2, 3, 4, 100 by hand: median 3, MAD 1, s* = 1.483, delta = 2.2245.

    Limits 0.7755 and 5.2245: only 100 is pulled in, to 5.2245. Mean of
    1, 2, 3, 4, 5.2245 is 15.2245 / 5 = 3.0449; s* = 1.134 x their sd.
    """
    estimate = algorithm_a([1, 2, 3, 4, 100])
    first = estimate.steps[1]
    winsorised = [1, 2, 3, 4, 3 + 1.5 * 1.483]
    mean = sum(winsorised) / 5
    sd = math.sqrt(sum((w - mean) ** 2 for w in winsorised) / 4)

    assert first.x_star == pytest.approx(3.0449)
    assert first.s_star == pytest.approx(1.134 * sd)
    assert estimate.x_star < sum([1, 2, 3, 4, 100]) / 5  # far below the plain mean, 22


def test_algorithm_a_result_is_a_fixed_point_of_one_more_iteration():
    """Converged x*, s* reproduce themselves when winsorised once more (definition of C.3.1)."""
    values = [10.0, 11.0, 12.0, 13.0, 14.0, 100.0]
    estimate = algorithm_a(values, stopping=FULL)
    delta = 1.5 * estimate.s_star
    winsorised = [min(max(v, estimate.x_star - delta), estimate.x_star + delta) for v in values]
    mean = sum(winsorised) / len(winsorised)
    sd = math.sqrt(sum((w - mean) ** 2 for w in winsorised) / (len(winsorised) - 1))

    assert mean == pytest.approx(estimate.x_star, rel=1e-8)
    assert 1.134 * sd == pytest.approx(estimate.s_star, rel=1e-8)


def test_algorithm_a_refuses_fewer_results_than_the_minimum():
    with pytest.raises(ValueError, match=f"at least {MINIMUM_RESULTS_FOR_ALGORITHM_A} results"):
        algorithm_a([1.0, 2.0])


def test_algorithm_a_refuses_a_result_that_is_not_a_finite_number():
    with pytest.raises(ValueError, match="finite"):
        algorithm_a([1.0, 2.0, math.nan])


def test_algorithm_a_on_identical_results_gives_zero_robust_sd():
    estimate = algorithm_a([5.2, 5.2, 5.2, 5.2])

    assert estimate.x_star == 5.2
    assert estimate.s_star == 0.0


def test_algorithm_a_with_more_than_half_identical_results_stops_at_the_median():
    """MAD = 0 gives delta = 0: every value is pulled to the median, whose sd is 0."""
    estimate = algorithm_a([3.0, 3.0, 3.0, 4.0, 9.0])

    assert (estimate.x_star, estimate.s_star, estimate.iterations) == (3.0, 0.0, 0)


def test_algorithm_a_reports_when_it_has_not_converged():
    with pytest.raises(AlgorithmADidNotConverge):
        algorithm_a([10.0, 11.0, 12.0, 13.0, 14.0, 100.0], max_iterations=2)


# --- Algorithm A: properties ---------------------------------------------------

# Lab results are decimals: values on a 0.001 grid within +/- 1000, as a lab would report them.
# (Arbitrary floats such as 1e-145 next to 1.0 cannot survive a shift by 1 in binary arithmetic.)
reported_values = st.integers(min_value=-1_000_000, max_value=1_000_000).map(lambda i: i / 1000)
finite_results = st.lists(reported_values, min_size=MINIMUM_RESULTS_FOR_ALGORITHM_A, max_size=40)


def _close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-7 * scale)


@given(finite_results, st.randoms(use_true_random=False), st.sampled_from(AlgorithmAStopping))
def test_algorithm_a_does_not_depend_on_the_order_of_the_results(values, random, stopping):
    shuffled = list(values)
    random.shuffle(shuffled)

    original, reordered = algorithm_a(values, stopping=stopping), algorithm_a(shuffled, stopping=stopping)

    assert (reordered.x_star, reordered.s_star) == (original.x_star, original.s_star)


# Full convergence does not depend on offset and unit; the standard's rule, which reads decimal
# digits, may stop one iteration earlier or later when the data are shifted or scaled.
@given(finite_results, reported_values)
def test_algorithm_a_shifts_with_the_data(values, shift):
    original = algorithm_a(values, stopping=FULL)
    shifted = algorithm_a([v + shift for v in values], stopping=FULL)
    scale = 1 + max(abs(v) for v in values) + abs(shift)

    assert _close(shifted.x_star, original.x_star + shift, scale)
    assert _close(shifted.s_star, original.s_star, scale)


@given(finite_results, st.floats(min_value=1e-3, max_value=1e3))
def test_algorithm_a_scales_with_the_data(values, factor):
    original = algorithm_a(values, stopping=FULL)
    scaled = algorithm_a([factor * v for v in values], stopping=FULL)
    scale = factor * (1 + max(abs(v) for v in values))

    assert _close(scaled.x_star, factor * original.x_star, scale)
    assert _close(scaled.s_star, factor * original.s_star, scale)


@given(finite_results)
def test_algorithm_a_robust_mean_lies_within_the_results(values):
    estimate = algorithm_a(values)

    assert min(values) - 1e-9 <= estimate.x_star <= max(values) + 1e-9
    assert estimate.s_star >= 0


# --- Uncertainty of the assigned value -----------------------------------------


def test_consensus_uncertainty_is_1_25_s_star_over_root_p():
    # 1.25 x 0.4 / sqrt(25) = 0.5 / 5
    assert standard_uncertainty_of_consensus(0.4, 25) == pytest.approx(0.1)


def test_reference_value_uncertainty_is_expanded_over_coverage_factor():
    assert standard_uncertainty_from_expanded(0.2, 2.0) == pytest.approx(0.1)


def test_uncertainty_of_exactly_0_3_sigma_pt_is_not_negligible():
    assert uncertainty_of_assigned_value_is_negligible(0.29, 1.0)
    assert not uncertainty_of_assigned_value_is_negligible(0.3, 1.0)
    assert not uncertainty_of_assigned_value_is_negligible(3.0, 10.0)


# --- Scores: hand-computed ------------------------------------------------------


def test_z_score_by_hand():
    assert z_score(12.5, 10.0, 1.25) == 2.0  # 2.5 / 1.25


def test_z_prime_score_by_hand():
    assert z_prime_score(20.0, 10.0, 3.0, 4.0) == pytest.approx(2.0)  # 10 / sqrt(9 + 16)


def test_zeta_score_by_hand():
    assert zeta_score(11.5, 10.0, 0.3, 0.4) == pytest.approx(3.0)  # 1.5 / sqrt(0.09 + 0.16)


def test_en_score_by_hand():
    assert en_score(11.0, 10.0, 0.6, 0.8) == pytest.approx(1.0)  # 1 / sqrt(0.36 + 0.64)
    assert en_score(8.8, 10.0, 0.6, 0.8) == pytest.approx(-1.2)


def test_z_score_needs_a_positive_sigma_pt():
    with pytest.raises(ValueError, match="sigma_pt"):
        z_score(1.0, 1.0, 0.0)


def test_zeta_score_is_undefined_without_any_uncertainty():
    with pytest.raises(ValueError, match="undefined"):
        zeta_score(1.0, 2.0, 0.0, 0.0)


# --- Signals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "signal"),
    [
        (0.0, Signal.ACCEPTABLE),
        (2.0, Signal.ACCEPTABLE),
        (-2.0, Signal.ACCEPTABLE),
        (2.01, Signal.WARNING),
        (-2.99, Signal.WARNING),
        (3.0, Signal.ACTION),
        (-3.0, Signal.ACTION),
        (7.5, Signal.ACTION),
    ],
)
def test_score_signal_thresholds(score, signal):
    assert signal_for_score(score) is signal


@pytest.mark.parametrize(
    ("en", "signal"),
    [(0.0, Signal.ACCEPTABLE), (1.0, Signal.ACCEPTABLE), (-1.0, Signal.ACCEPTABLE), (1.01, Signal.ACTION)],
)
def test_en_signal_thresholds(en, signal):
    assert signal_for_en(en) is signal


def test_result_exactly_two_sigma_away_is_acceptable_despite_float_rounding():
    z = z_score(0.2, 0.8, 0.3)  # -0.6 / 0.3, which binary floats make -2.0000000000000004

    assert z == pytest.approx(-2.0)
    assert signal_for_score(z) is Signal.ACCEPTABLE


@given(st.floats(min_value=0, max_value=100))
def test_signal_depends_only_on_the_size_of_the_score(magnitude):
    assert signal_for_score(magnitude) is signal_for_score(-magnitude)
    assert signal_for_en(magnitude) is signal_for_en(-magnitude)


@given(st.floats(min_value=0, max_value=100))
def test_signal_bands(magnitude):
    signal = signal_for_score(magnitude)
    if magnitude <= 2.0:
        assert signal is Signal.ACCEPTABLE
    elif magnitude >= 3.0:
        assert signal is Signal.ACTION
    elif 2.0 + 1e-6 < magnitude < 3.0 - 1e-6:  # clear of the float-noise guard at the limits
        assert signal is Signal.WARNING


positive = st.floats(min_value=1e-3, max_value=1e3)
non_negative = st.floats(min_value=0, max_value=1e3)


@given(reported_values, reported_values, positive, non_negative, positive, non_negative)
def test_every_score_has_the_sign_of_the_deviation(x, x_pt, sigma_pt, u_x_pt, u_x, expanded):
    deviation_sign = (x > x_pt) - (x < x_pt)
    scores = [
        z_score(x, x_pt, sigma_pt),
        z_prime_score(x, x_pt, sigma_pt, u_x_pt),
        zeta_score(x, x_pt, u_x, u_x_pt),
        en_score(x, x_pt, u_x, expanded),
    ]
    for score in scores:
        assert (score > 0) - (score < 0) == deviation_sign


@given(reported_values, reported_values, positive, non_negative)
def test_z_prime_never_exceeds_z(x, x_pt, sigma_pt, u_x_pt):
    assert abs(z_prime_score(x, x_pt, sigma_pt, u_x_pt)) <= abs(z_score(x, x_pt, sigma_pt)) * (1 + 1e-12)


# --- Evaluating a round --------------------------------------------------------

REFERENCE_DESIGN = RoundDesign(
    assigned_value=ReferenceAssignedValue(value=10.0, expanded_uncertainty=0.2, coverage_factor=2.0),
    sigma_pt=FixedSigmaPt(0.5),
)


def test_round_with_reference_value_and_fixed_sigma_pt_by_hand():
    """x_pt = 10, u(x_pt) = 0.2 / 2 = 0.1 < 0.3 x 0.5 = 0.15, so plain z."""
    evaluation = evaluate_round(
        [
            ParticipantResult("A", 10.5),
            ParticipantResult("B", 11.25),
            ParticipantResult("C", 8.5),
        ],
        REFERENCE_DESIGN,
    )

    assert (evaluation.assigned_value, evaluation.sigma_pt) == (10.0, 0.5)
    assert evaluation.standard_uncertainty == pytest.approx(0.1)
    assert evaluation.expanded_uncertainty == pytest.approx(0.2)
    assert not evaluation.z_prime_used
    assert [(p.lab_id, p.score_kind, p.score, p.signal) for p in evaluation.labs] == [
        ("A", ScoreKind.Z, 1.0, Signal.ACCEPTABLE),
        ("B", ScoreKind.Z, 2.5, Signal.WARNING),
        ("C", ScoreKind.Z, -3.0, Signal.ACTION),
    ]
    assert evaluation.robust_estimate is None


def test_round_gives_zeta_and_en_only_to_labs_that_stated_an_uncertainty():
    """Lab A: u(x) = 0.4 / 2 = 0.2; zeta = 0.5 / sqrt(0.04 + 0.01); E_n = 0.5 / sqrt(0.16 + 0.04)."""
    evaluation = evaluate_round(
        [
            ParticipantResult("A", 10.5, expanded_uncertainty=0.4, coverage_factor=2.0),
            ParticipantResult("B", 10.5),
        ],
        REFERENCE_DESIGN,
    )
    a, b = evaluation.for_lab("A"), evaluation.for_lab("B")

    assert a.zeta == pytest.approx(0.5 / math.sqrt(0.05))
    assert a.zeta_signal is Signal.WARNING  # 2.236
    assert a.en == pytest.approx(0.5 / math.sqrt(0.2))
    assert a.en_signal is Signal.ACTION  # 1.118
    assert (b.zeta, b.zeta_signal, b.en, b.en_signal) == (None, None, None, None)


def test_round_uses_z_prime_when_reference_uncertainty_is_not_negligible():
    """u(x_pt) = 0.3 / 2 = 0.15 = 0.3 x 0.5: not below 0.3 sigma_pt, so z' = 1 / sqrt(0.25 + 0.0225)."""
    design = RoundDesign(
        assigned_value=ReferenceAssignedValue(value=10.0, expanded_uncertainty=0.3, coverage_factor=2.0),
        sigma_pt=FixedSigmaPt(0.5),
    )
    evaluation = evaluate_round([ParticipantResult("A", 11.0)], design)

    assert evaluation.z_prime_used
    assert evaluation.labs[0].score_kind is ScoreKind.Z_PRIME
    assert evaluation.labs[0].score == pytest.approx(1.0 / math.sqrt(0.2725))


def test_consensus_round_on_annex_e3_data():
    """x_pt = x* of Algorithm A, u(x_pt) = 1.25 s* / sqrt(12), sigma_pt = s*."""
    results = [ParticipantResult(lab, value) for lab, value in ANNEX_E3_RESULTS.items()]
    design = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=RobustSigmaPt())
    evaluation = evaluate_round(results, design)
    robust = algorithm_a(ANNEX_E3_RESULTS.values())

    assert evaluation.assigned_value == robust.x_star
    assert evaluation.sigma_pt == robust.s_star
    assert evaluation.standard_uncertainty == pytest.approx(1.25 * robust.s_star / math.sqrt(12))
    assert evaluation.expanded_uncertainty == pytest.approx(2 * evaluation.standard_uncertainty)
    assert evaluation.z_prime_used  # 1.25 / sqrt(12) = 0.36 >= 0.3
    lab_9 = evaluation.for_lab("9")
    expected = (2.19 - robust.x_star) / math.hypot(robust.s_star, evaluation.standard_uncertainty)
    assert lab_9.score == pytest.approx(expected)


@pytest.mark.parametrize(("p", "z_prime_used"), [(17, True), (18, False)])
def test_consensus_with_derived_sigma_pt_needs_18_results_for_plain_z(p, z_prime_used):
    """With sigma_pt = s*, u(x_pt) < 0.3 sigma_pt means 1.25 / sqrt(p) < 0.3, i.e. p >= 18."""
    results = [ParticipantResult(f"lab{i}", 10.0 + 0.1 * (i % 7)) for i in range(p)]
    design = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=RobustSigmaPt())

    assert evaluate_round(results, design).z_prime_used is z_prime_used


def test_round_refuses_two_results_from_one_lab():
    with pytest.raises(ValueError, match="more than one result"):
        evaluate_round([ParticipantResult("A", 1.0), ParticipantResult("A", 2.0)], REFERENCE_DESIGN)


def test_result_with_expanded_uncertainty_needs_its_coverage_factor():
    with pytest.raises(ValueError, match="coverage factor"):
        ParticipantResult("A", 1.0, expanded_uncertainty=0.2)


def test_sigma_pt_cannot_be_derived_when_robust_sd_is_zero():
    design = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=RobustSigmaPt())
    results = [ParticipantResult(lab, 1.0) for lab in "ABC"] + [ParticipantResult("D", 2.0)]

    with pytest.raises(ValueError, match="s\\* is 0"):
        evaluate_round(results, design)


def test_consensus_round_refuses_too_few_results():
    design = RoundDesign(assigned_value=ConsensusAssignedValue(), sigma_pt=FixedSigmaPt(1.0))

    with pytest.raises(ValueError, match="at least"):
        evaluate_round([ParticipantResult("A", 1.0), ParticipantResult("B", 2.0)], design)


# --- Refused input: every entry point takes finite numbers, and non-negative ones where a
# negative value means nothing; a result too large for a float is refused, never returned ---

NOT_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", NOT_FINITE)
@pytest.mark.parametrize(
    ("score", "arguments", "position", "name"),
    [
        (z_score, (1.0, 2.0, 0.5), 0, "x"),
        (z_score, (1.0, 2.0, 0.5), 1, "x_pt"),
        (z_prime_score, (1.0, 2.0, 0.5, 0.1), 0, "x"),
        (z_prime_score, (1.0, 2.0, 0.5, 0.1), 1, "x_pt"),
        (z_prime_score, (1.0, 2.0, 0.5, 0.1), 3, "u_x_pt"),
        (zeta_score, (1.0, 2.0, 0.3, 0.1), 0, "x"),
        (zeta_score, (1.0, 2.0, 0.3, 0.1), 1, "x_pt"),
        (zeta_score, (1.0, 2.0, 0.3, 0.1), 2, "u_x"),
        (en_score, (1.0, 2.0, 0.6, 0.2), 0, "x"),
        (en_score, (1.0, 2.0, 0.6, 0.2), 1, "x_pt"),
        (en_score, (1.0, 2.0, 0.6, 0.2), 3, "expanded_u_x_pt"),
    ],
)
def test_scores_refuse_a_number_that_is_not_finite_naming_the_argument(score, arguments, position, name, bad):
    given = list(arguments)
    given[position] = bad

    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        score(*given)


@pytest.mark.parametrize("bad", NOT_FINITE)
def test_signals_refuse_a_score_that_is_not_finite(bad):
    """A NaN z is no warning, and a NaN E_n no action: there is no score to judge."""
    with pytest.raises(ValueError, match=r"\bscore\b"):
        signal_for_score(bad)
    with pytest.raises(ValueError, match=r"\ben\b"):
        signal_for_en(bad)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: uncertainty_of_assigned_value_is_negligible(-5.0, 1.0), "u_x_pt"),
        (lambda: z_prime_score(1.0, 2.0, 0.5, -0.1), "u_x_pt"),
        (lambda: zeta_score(1.0, 2.0, -0.3, 0.1), "u_x"),
        (lambda: zeta_score(1.0, 2.0, 0.3, -0.1), "u_x_pt"),
        (lambda: en_score(1.0, 2.0, -0.6, 0.2), "expanded_u_x"),
        (lambda: en_score(1.0, 2.0, 0.6, -0.2), "expanded_u_x_pt"),
        (lambda: z_score(1.0, 2.0, -0.5), "sigma_pt"),
        (lambda: standard_uncertainty_from_expanded(-0.2, 2.0), "expanded_uncertainty"),
        (lambda: standard_uncertainty_from_expanded(0.2, -2.0), "coverage_factor"),
        (lambda: standard_uncertainty_of_consensus(-0.4, 25), "s_star"),
        (lambda: FixedSigmaPt(-0.5), "sigma_pt"),
    ],
)
def test_a_negative_spread_uncertainty_or_coverage_factor_is_refused_naming_it(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: z_score(1e308, -1e308, 1.0), "x and x_pt"),
        (lambda: z_score(1e300, 0.0, 1e-10), "sigma_pt"),
        (lambda: z_prime_score(1e308, -1e308, 1.0, 1.0), "x and x_pt"),
        (lambda: zeta_score(1e308, -1e308, 1.0, 1.0), "x and x_pt"),
        (lambda: en_score(1e308, -1e308, 1.0, 0.0), "x and x_pt"),
        (lambda: standard_uncertainty_from_expanded(1e308, 1e-300), "coverage_factor"),
        (lambda: standard_uncertainty_of_consensus(1.7e308, 1), "s_star"),
        (lambda: ReferenceAssignedValue(10.0, 1e308, 1e-300), "coverage_factor"),
        (lambda: ParticipantResult("A", 10.0, 1e308, 1e-300), "coverage_factor"),
    ],
)
def test_a_result_too_large_for_a_float_is_refused_with_a_value_error(call, names):
    """The huge finite inputs would give inf; they are refused, naming what overflowed."""
    with pytest.raises(ValueError, match=names):
        call()


@pytest.mark.parametrize(
    "values",
    [[1e308, -1e308, 0.0, 1.0], [1e308, 1e308, 0.0, 5e307], [1.7e308, -1.7e308, 1.7e308, -1.7e308, 0.0]],
)
def test_algorithm_a_on_results_too_far_apart_for_a_float_is_refused_with_a_value_error(values):
    """Before: OverflowError from the squares or the sum; now a ValueError naming the values."""
    with pytest.raises(ValueError, match="values"):
        algorithm_a(values)


@pytest.mark.parametrize("tolerance", [math.inf, math.nan, -1e-10, 0.0])
def test_algorithm_a_refuses_a_tolerance_that_is_not_a_finite_positive_number(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        algorithm_a([1.0, 2.0, 3.0], tolerance=tolerance)


any_float = st.floats(allow_nan=True, allow_infinity=True)


def _finite_or_value_error(compute):
    try:
        result = compute()
    except ValueError:
        return
    assert math.isfinite(result), result


@given(any_float, any_float, any_float, any_float)
def test_every_score_is_finite_or_refused_with_a_value_error(a, b, c, d):
    """No NaN, no infinity and no OverflowError ever leave a score function."""
    _finite_or_value_error(lambda: z_score(a, b, c))
    _finite_or_value_error(lambda: z_prime_score(a, b, c, d))
    _finite_or_value_error(lambda: zeta_score(a, b, c, d))
    _finite_or_value_error(lambda: en_score(a, b, c, d))
    _finite_or_value_error(lambda: standard_uncertainty_from_expanded(a, b))
    _finite_or_value_error(lambda: standard_uncertainty_of_consensus(a, 12))


@given(any_float)
def test_every_signal_is_given_for_a_finite_score_or_refused(score):
    for signal in (signal_for_score, signal_for_en):
        try:
            assert signal(score) in set(Signal)
        except ValueError:
            assert not math.isfinite(score)


@given(st.lists(any_float, min_size=MINIMUM_RESULTS_FOR_ALGORITHM_A, max_size=12))
def test_algorithm_a_is_finite_or_refused_with_a_value_error(values):
    try:
        estimate = algorithm_a(values)
    except ValueError:
        return
    except AlgorithmADidNotConverge:
        return  # pathological floats that never settle are reported as such, not as a number
    assert math.isfinite(estimate.x_star) and math.isfinite(estimate.s_star) and estimate.s_star >= 0
