"""Statistics of a proficiency-testing round, as ISO 13528:2015 describes them.

Pure functions and frozen dataclasses, no I/O. What each function computes and
which clause asks for it is said in its docstring; the choices the standard
leaves open (how the stopping rule reads, minimum number of results, floating-point guard)
are documented in ``STATISTICS.md`` at the root of the service.

Symbols follow the standard: ``x`` a participant's result, ``x_pt`` the
assigned value, ``u(x_pt)`` its standard uncertainty, ``sigma_pt`` the standard
deviation for proficiency assessment, ``x_star``/``s_star`` the robust mean and
standard deviation (x*, s*) of Algorithm A, ``U`` an expanded uncertainty and
``k`` its coverage factor.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import ClassVar

# Written here rather than taken from a library: no maintained Python package
# implements ISO 13528 Algorithm A with the standard's stopping rule and full convergence as a choice.

MINIMUM_RESULTS_FOR_ALGORITHM_A = 3
"""Fewer results give no robust estimate worth the name (with two, the median is
the mean). Our floor, not the standard's: ISO 13528:2015 5.4 leaves small
numbers of participants to the provider's judgement."""

MAD_FACTOR = 1.483  # ISO 13528:2015 C.3.1: s* = 1.483 median |x_i - x*| to start
WINSORISING_FACTOR = 1.5  # delta = 1.5 s*
S_STAR_FACTOR = 1.134  # s* = 1.134 x standard deviation of the winsorised values

NEGLIGIBLE_UNCERTAINTY_RATIO = 0.3
"""u(x_pt) is negligible when below 0.3 sigma_pt (ISO 13528:2015 9.2)."""

CONSENSUS_UNCERTAINTY_FACTOR = 1.25  # u(x_pt) = 1.25 s* / sqrt(p), ISO 13528:2015 7.7
CONSENSUS_COVERAGE_FACTOR = 2.0  # U(x_pt) = 2 u(x_pt) for a consensus value, used by E_n

# Results exactly on a limit (|z| = 2, |E_n| = 1, |deviation| = tolerance) must
# not flip because binary floats give 2.0000000000000004 for "exactly two".
_FLOAT_NOISE = 1e-9


def at_most(value: float, limit: float) -> bool:
    """``value <= limit``, with a result on the limit up to float noise counted as on it."""
    require_finite("value", value)
    require_finite("limit", limit)
    return value <= limit or math.isclose(value, limit, rel_tol=_FLOAT_NOISE)


def at_least(value: float, limit: float) -> bool:
    """``value >= limit``, with a result on the limit up to float noise counted as on it."""
    require_finite("value", value)
    require_finite("limit", limit)
    return value >= limit or math.isclose(value, limit, rel_tol=_FLOAT_NOISE)


# --- what every entry point takes: finite numbers, non-negative where a negative one means
# nothing, and nothing whose result would leave the range of a float ------------------------


def require_finite(name: str, value: float) -> float:
    """``value``, or ValueError naming ``name`` when it is NaN or infinite."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def require_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """``value``, or ValueError naming ``name`` when it is not finite and positive (or zero,
    where allowed): standard deviations, uncertainties and coverage factors are never negative."""
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {kind} number, got {value!r}")
    return value


def _in_float_range(value: float, what: str, because: str) -> float:
    # Huge finite inputs give inf (or raise OverflowError); refuse them as bad input instead.
    if not math.isfinite(value):
        raise ValueError(f"{what} is beyond the range of a float: {because}")
    return value


# --- Algorithm A (ISO 13528:2015 Annex C.3.1) ---------------------------------


class AlgorithmADidNotConverge(ArithmeticError):
    """Algorithm A did not settle within the allowed number of iterations."""


class AlgorithmAStopping(StrEnum):
    """When Algorithm A stops iterating: by the standard's rule (C.3.1), or at the fixed point."""

    THIRD_SIGNIFICANT_FIGURE = "third_significant_figure"
    FULL_CONVERGENCE = "full_convergence"


@dataclass(frozen=True)
class AlgorithmAStep:
    """x* and s* after one iteration (step 0 holds the starting values)."""

    x_star: float
    s_star: float


@dataclass(frozen=True)
class RobustEstimate:
    """Result of Algorithm A: robust mean x*, robust standard deviation s*, and the stopping
    rule that ended the iterations."""

    x_star: float
    s_star: float
    iterations: int
    p: int
    steps: tuple[AlgorithmAStep, ...]
    stopping: AlgorithmAStopping = AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE


def algorithm_a(
    values: Iterable[float],
    *,
    stopping: AlgorithmAStopping = AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE,
    tolerance: float = 1e-10,
    max_iterations: int = 10_000,
) -> RobustEstimate:
    """Robust mean x* and robust standard deviation s* by ISO 13528:2015 Algorithm A.

    C.3.1: start with x* = median(x_i) and s* = 1.483 median|x_i - x*|
    (``algorithm_a_start``); then repeat ``algorithm_a_iteration`` until the
    ``stopping`` rule is met: by default the standard's
    (``third_significant_figure_unchanged``), or full convergence
    (``fully_converged``, with ``tolerance``).

    When more than half the results are identical the starting s* is 0, so
    delta = 0 and the algorithm's fixed point is x* = median, s* = 0: that is
    returned at once (iterations = 0).

    Raises ValueError for fewer than ``MINIMUM_RESULTS_FOR_ALGORITHM_A`` values
    or a value that is not a finite number, and AlgorithmADidNotConverge when
    ``max_iterations`` iterations were not enough.
    """
    stopping = AlgorithmAStopping(stopping)
    data = _algorithm_a_data(values, tolerance, max_iterations)
    p = len(data)
    steps = [algorithm_a_start(data)]
    if steps[0].s_star == 0.0:
        return RobustEstimate(steps[0].x_star, 0.0, 0, p, tuple(steps), stopping)
    for iteration in range(1, max_iterations + 1):
        previous = steps[-1]
        current = algorithm_a_iteration(data, previous)
        steps.append(current)
        if _has_stopped(stopping, previous, current, tolerance):
            return RobustEstimate(current.x_star, current.s_star, iteration, p, tuple(steps), stopping)
    raise AlgorithmADidNotConverge(
        f"Algorithm A did not converge in {max_iterations} iterations "
        f"(last x* = {steps[-1].x_star!r}, s* = {steps[-1].s_star!r})"
    )


def _has_stopped(stopping: AlgorithmAStopping, previous: AlgorithmAStep, current: AlgorithmAStep, tolerance: float) -> bool:
    if stopping is AlgorithmAStopping.FULL_CONVERGENCE:
        return fully_converged(previous, current, tolerance)
    return third_significant_figure_unchanged(previous, current)


def third_significant_figure_unchanged(previous: AlgorithmAStep, current: AlgorithmAStep) -> bool:
    """The standard's stopping rule (ISO 13528:2015 C.3.1): convergence may be assumed when there
    is no change from one iteration to the next in the third significant figure of the robust
    standard deviation s* and of the equivalent figure (the same decimal place) in the robust
    average x*.

    Both are rounded half to even, in decimal, at the place of the current s*'s third
    significant figure (the decimal digits of each float's shortest representation), so that
    the rule reads the numbers the way a person reading the table does.
    """
    if current.s_star == 0:
        return previous == current
    place = Decimal(1).scaleb(Decimal(repr(current.s_star)).adjusted() - 2)
    return all(
        _rounded_at(before, place) == _rounded_at(after, place)
        for before, after in ((previous.s_star, current.s_star), (previous.x_star, current.x_star))
    )


def _rounded_at(value: float, place: Decimal) -> Decimal:
    return Decimal(repr(value)).quantize(place, rounding=ROUND_HALF_EVEN)


def fully_converged(previous: AlgorithmAStep, current: AlgorithmAStep, tolerance: float) -> bool:
    """Full convergence: neither x* nor s* moved by more than ``tolerance`` x s*.

    Iterating on to numerical convergence lands on the fixed point the standard's rule
    approximates, and keeps the result independent of the order, offset and unit of the data;
    a round chooses it as ``AlgorithmAStopping.FULL_CONVERGENCE``.
    """
    return (
        abs(current.x_star - previous.x_star) <= tolerance * current.s_star
        and abs(current.s_star - previous.s_star) <= tolerance * current.s_star
    )


def algorithm_a_start(values: Sequence[float]) -> AlgorithmAStep:
    """The starting values of C.3.1: x* = median(x_i), s* = 1.483 median|x_i - x*|."""
    data = algorithm_a_values(values)
    if not data:
        raise ValueError("values must not be empty")
    x_star = _median(data)
    return AlgorithmAStep(x_star, MAD_FACTOR * _median([abs(x - x_star) for x in data]))


def algorithm_a_iteration(values: Sequence[float], step: AlgorithmAStep) -> AlgorithmAStep:
    """One iteration of C.3.1: delta = 1.5 s*, winsorise every x_i to [x* - delta, x* + delta],
    x* = mean of the winsorised values, s* = 1.134 x their standard deviation (p - 1)."""
    data = algorithm_a_values(values)
    if len(data) < 2:
        raise ValueError(f"values must hold at least 2 results for a standard deviation, got {len(data)}")
    require_finite("x_star", step.x_star)
    require_positive("s_star", step.s_star, allow_zero=True)
    delta = WINSORISING_FACTOR * step.s_star
    low, high = step.x_star - delta, step.x_star + delta
    winsorised = [min(max(x, low), high) for x in data]
    x_star = math.fsum(winsorised) / len(data)
    return AlgorithmAStep(x_star, S_STAR_FACTOR * _sample_standard_deviation(winsorised, x_star))


def _algorithm_a_data(values: Iterable[float], tolerance: float, max_iterations: int) -> list[float]:
    data = algorithm_a_values(values)
    if len(data) < MINIMUM_RESULTS_FOR_ALGORITHM_A:
        raise ValueError(
            f"Algorithm A needs at least {MINIMUM_RESULTS_FOR_ALGORITHM_A} results, got {len(data)}"
        )
    require_positive("tolerance", tolerance)
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    return data


def algorithm_a_values(values: Iterable[float]) -> list[float]:
    """The results as floats, or ValueError naming ``values``: each must be finite, and together
    they must stay within what Algorithm A can sum and square in floating point (the sum of p
    results, and p times the square of their range)."""
    data = [float(v) for v in values]
    for position, v in enumerate(data):
        if not math.isfinite(v):
            raise ValueError(f"values must be finite numbers, got {v!r} at position {position}")
    if data:
        p, low, high = len(data), min(data), max(data)
        largest = sys.float_info.max / (4 * p)
        spread = high - low
        if max(abs(low), abs(high)) > largest or not spread <= math.sqrt(largest):
            raise ValueError(
                f"values span {low!r} to {high!r}: beyond the range of a float for Algorithm A "
                f"(the sum of the {p} results and the squares of their deviations must stay finite)"
            )
    return data


def _median(data: Sequence[float]) -> float:
    ordered = sorted(data)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _sample_standard_deviation(data: Sequence[float], mean: float) -> float:
    # fsum is exact, so the result does not depend on the order of the data
    return math.sqrt(math.fsum((x - mean) ** 2 for x in data) / (len(data) - 1))


# --- Uncertainty of the assigned value (ISO 13528:2015 7.4 and 7.7) ----------


def standard_uncertainty_of_consensus(s_star: float, p: int) -> float:
    """u(x_pt) = 1.25 s* / sqrt(p) for x_pt = x* of Algorithm A over p results (7.7)."""
    if p < 1:
        raise ValueError(f"p must be at least 1, got {p}")
    require_positive("s_star", s_star, allow_zero=True)
    u = CONSENSUS_UNCERTAINTY_FACTOR * s_star / math.sqrt(p)
    return _in_float_range(u, "u(x_pt) = 1.25 s_star / sqrt(p)", f"s_star = {s_star!r} is too large")


def standard_uncertainty_from_expanded(expanded_uncertainty: float, coverage_factor: float) -> float:
    """u = U / k, e.g. for a certified reference value stated as U with coverage factor k (7.4)."""
    require_positive("expanded_uncertainty", expanded_uncertainty, allow_zero=True)
    require_positive("coverage_factor", coverage_factor)
    return _in_float_range(
        expanded_uncertainty / coverage_factor, "u = U / k",
        f"coverage_factor = {coverage_factor!r} is too small for expanded_uncertainty = {expanded_uncertainty!r}",
    )


def uncertainty_of_assigned_value_is_negligible(u_x_pt: float, sigma_pt: float) -> bool:
    """True when u(x_pt) < 0.3 sigma_pt (9.2); z' replaces z otherwise."""
    require_positive("u_x_pt", u_x_pt, allow_zero=True)
    require_positive("sigma_pt", sigma_pt)
    return not at_least(u_x_pt, NEGLIGIBLE_UNCERTAINTY_RATIO * sigma_pt)


# --- Performance scores (ISO 13528:2015 9.4 to 9.7) ---------------------------


def z_score(x: float, x_pt: float, sigma_pt: float) -> float:
    """z = (x - x_pt) / sigma_pt (9.4)."""
    require_positive("sigma_pt", sigma_pt)
    return _score("z", deviation(x, x_pt), sigma_pt, "sigma_pt")


def z_prime_score(x: float, x_pt: float, sigma_pt: float, u_x_pt: float) -> float:
    """z' = (x - x_pt) / sqrt(sigma_pt^2 + u(x_pt)^2) (9.5)."""
    require_positive("sigma_pt", sigma_pt)
    require_positive("u_x_pt", u_x_pt, allow_zero=True)
    return _score("z'", deviation(x, x_pt), math.hypot(sigma_pt, u_x_pt), "sigma_pt and u_x_pt")


def zeta_score(x: float, x_pt: float, u_x: float, u_x_pt: float) -> float:
    """zeta = (x - x_pt) / sqrt(u(x)^2 + u(x_pt)^2) (9.6)."""
    require_positive("u_x", u_x, allow_zero=True)
    require_positive("u_x_pt", u_x_pt, allow_zero=True)
    return _score("zeta", deviation(x, x_pt), math.hypot(u_x, u_x_pt), "u_x and u_x_pt")


def en_score(x: float, x_pt: float, expanded_u_x: float, expanded_u_x_pt: float) -> float:
    """E_n = (x - x_pt) / sqrt(U(x)^2 + U(x_pt)^2) (9.7)."""
    require_positive("expanded_u_x", expanded_u_x, allow_zero=True)
    require_positive("expanded_u_x_pt", expanded_u_x_pt, allow_zero=True)
    denominator = math.hypot(expanded_u_x, expanded_u_x_pt)
    return _score("E_n", deviation(x, x_pt), denominator, "expanded_u_x and expanded_u_x_pt")


def deviation(x: float, x_pt: float) -> float:
    """x - x_pt, the numerator of every score; ValueError when either is not finite, or when
    they lie too far apart for their difference to be a float."""
    require_finite("x", x)
    require_finite("x_pt", x_pt)
    return _in_float_range(x - x_pt, "x - x_pt", f"x and x_pt are too far apart (x = {x!r}, x_pt = {x_pt!r})")


def _score(kind: str, numerator: float, denominator: float, of: str) -> float:
    _in_float_range(denominator, f"the denominator of {kind}", f"{of} are too large")
    if denominator == 0:
        raise ValueError(f"{of} are both zero: the score is undefined")
    return _in_float_range(
        numerator / denominator, kind, f"{of} are too small for x - x_pt = {numerator!r}"
    )


class Signal(StrEnum):
    ACCEPTABLE = "acceptable"
    WARNING = "warning"
    ACTION = "action"


def signal_for_score(score: float) -> Signal:
    """Signal for z, z' or zeta: |s| <= 2 acceptable, 2 < |s| < 3 warning, |s| >= 3 action.
    A score that is not a finite number has no signal (ValueError)."""
    magnitude = abs(require_finite("score", score))
    if at_most(magnitude, 2.0):
        return Signal.ACCEPTABLE
    if at_least(magnitude, 3.0):
        return Signal.ACTION
    return Signal.WARNING


def signal_for_en(en: float) -> Signal:
    """Signal for E_n (9.7): |E_n| <= 1 acceptable, |E_n| > 1 action; E_n has no warning band.
    An E_n that is not a finite number has no signal (ValueError)."""
    return Signal.ACCEPTABLE if at_most(abs(require_finite("en", en)), 1.0) else Signal.ACTION


# --- Evaluating a whole round --------------------------------------------------


@dataclass(frozen=True)
class ParticipantResult:
    """One lab's reported result: value, and optionally U with its coverage factor k."""

    lab_id: str
    value: float
    expanded_uncertainty: float | None = None
    coverage_factor: float | None = None

    def __post_init__(self) -> None:
        if not self.lab_id:
            raise ValueError("a result needs the lab's id")
        require_finite(f"lab {self.lab_id}: the result's value", self.value)
        if self.expanded_uncertainty is None:
            if self.coverage_factor is not None:
                raise ValueError(f"lab {self.lab_id}: a coverage factor k needs its expanded uncertainty U")
            return
        if self.coverage_factor is None:
            raise ValueError(f"lab {self.lab_id}: an expanded uncertainty U needs its coverage factor k")
        require_positive(f"lab {self.lab_id}: expanded_uncertainty U", self.expanded_uncertainty)
        require_positive(f"lab {self.lab_id}: coverage_factor k", self.coverage_factor)
        _in_float_range(
            self.expanded_uncertainty / self.coverage_factor, f"lab {self.lab_id}: u = U / k",
            f"the coverage_factor k = {self.coverage_factor!r} is too small for U = {self.expanded_uncertainty!r}",
        )

    @property
    def has_uncertainty(self) -> bool:
        return self.expanded_uncertainty is not None

    @property
    def standard_uncertainty(self) -> float | None:
        """u(x) = U / k, or None when the lab gave no uncertainty."""
        if self.expanded_uncertainty is None or self.coverage_factor is None:
            return None
        return self.expanded_uncertainty / self.coverage_factor


class AssignedValueMethod(StrEnum):
    """How x_pt is obtained: a reference value (7.4) or the participants' consensus (7.7)."""

    REFERENCE = "reference"
    CONSENSUS = "consensus"


class SigmaPtMethod(StrEnum):
    """How sigma_pt is obtained: fixed in advance, or s* of the round's results (8.6)."""

    FIXED = "fixed"
    ROBUST = "robust"


@dataclass(frozen=True)
class ReferenceAssignedValue:
    """x_pt is a reference value (e.g. a certified reference material) stated with U and k."""

    method: ClassVar[AssignedValueMethod] = AssignedValueMethod.REFERENCE
    value: float
    expanded_uncertainty: float
    coverage_factor: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"the reference value must be a finite number, got {self.value!r}")
        require_positive(
            "the reference value's expanded_uncertainty U", self.expanded_uncertainty, allow_zero=True
        )
        require_positive("the reference value's coverage_factor k", self.coverage_factor)
        standard_uncertainty_from_expanded(self.expanded_uncertainty, self.coverage_factor)  # u = U/k is a float


@dataclass(frozen=True)
class ConsensusAssignedValue:
    """x_pt is x* of Algorithm A over the participants' results (7.7)."""

    method: ClassVar[AssignedValueMethod] = AssignedValueMethod.CONSENSUS


@dataclass(frozen=True)
class FixedSigmaPt:
    """sigma_pt set in advance (by experts, a general model or earlier rounds)."""

    method: ClassVar[SigmaPtMethod] = SigmaPtMethod.FIXED
    value: float

    def __post_init__(self) -> None:
        require_positive("sigma_pt", self.value)


@dataclass(frozen=True)
class RobustSigmaPt:
    """sigma_pt = s* of Algorithm A over this round's results (8.6)."""

    method: ClassVar[SigmaPtMethod] = SigmaPtMethod.ROBUST


@dataclass(frozen=True)
class RoundDesign:
    """How a round's assigned value and sigma_pt are obtained."""

    assigned_value: ReferenceAssignedValue | ConsensusAssignedValue
    sigma_pt: FixedSigmaPt | RobustSigmaPt
    algorithm_a_stopping: AlgorithmAStopping = AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE

    @property
    def needs_algorithm_a(self) -> bool:
        return isinstance(self.assigned_value, ConsensusAssignedValue) or isinstance(
            self.sigma_pt, RobustSigmaPt
        )


class ScoreKind(StrEnum):
    Z = "z"
    Z_PRIME = "z'"


@dataclass(frozen=True)
class LabPerformance:
    """A lab's scores in a round; ``signal`` is the one from z (or z') that counts."""

    lab_id: str
    value: float
    score_kind: ScoreKind
    score: float
    signal: Signal
    zeta: float | None = None
    zeta_signal: Signal | None = None
    en: float | None = None
    en_signal: Signal | None = None


@dataclass(frozen=True)
class RoundEvaluation:
    """Assigned value, its uncertainty, sigma_pt, and every lab's performance."""

    assigned_value: float
    standard_uncertainty: float
    expanded_uncertainty: float
    sigma_pt: float
    z_prime_used: bool
    robust_estimate: RobustEstimate | None
    labs: tuple[LabPerformance, ...]
    assigned_value_method: AssignedValueMethod = AssignedValueMethod.REFERENCE
    sigma_pt_method: SigmaPtMethod = SigmaPtMethod.FIXED

    def for_lab(self, lab_id: str) -> LabPerformance:
        for performance in self.labs:
            if performance.lab_id == lab_id:
                return performance
        raise KeyError(lab_id)


def evaluate_round(results: Sequence[ParticipantResult], design: RoundDesign) -> RoundEvaluation:
    """Assigned value, u(x_pt), sigma_pt and each lab's scores and signal.

    - x_pt and u(x_pt): the reference value with u = U/k, or x* of Algorithm A
      with u = 1.25 s*/sqrt(p) (7.7); U(x_pt) is the stated U, or 2 u(x_pt)
      for a consensus value.
    - sigma_pt: fixed, or s* of Algorithm A (8.6).
    - z' instead of z for every lab when u(x_pt) is not below 0.3 sigma_pt (9.2).
    - zeta and E_n for the labs that stated an uncertainty (9.6, 9.7).

    Raises ValueError for two results from one lab, too few results for
    Algorithm A, or a derived sigma_pt of 0.
    """
    _require_one_result_per_lab(results)
    robust = None
    if design.needs_algorithm_a:
        robust = algorithm_a([r.value for r in results], stopping=design.algorithm_a_stopping)
    x_pt, u_x_pt, expanded_u_x_pt = assigned_value_with_uncertainty(design, robust)
    sigma_pt = sigma_pt_of_round(design, robust)
    z_prime_used = not uncertainty_of_assigned_value_is_negligible(u_x_pt, sigma_pt)
    labs = tuple(
        _lab_performance(r, x_pt, u_x_pt, expanded_u_x_pt, sigma_pt, z_prime_used) for r in results
    )
    return RoundEvaluation(
        assigned_value=x_pt,
        standard_uncertainty=u_x_pt,
        expanded_uncertainty=expanded_u_x_pt,
        sigma_pt=sigma_pt,
        z_prime_used=z_prime_used,
        robust_estimate=robust,
        labs=labs,
        assigned_value_method=design.assigned_value.method,
        sigma_pt_method=design.sigma_pt.method,
    )


def assigned_value_with_uncertainty(
    design: RoundDesign, robust: RobustEstimate | None
) -> tuple[float, float, float]:
    """x_pt, u(x_pt) and U(x_pt): the reference value with u = U/k and its stated U (7.4),
    or x* of Algorithm A with u = 1.25 s*/sqrt(p) (7.7) and U = 2 u."""
    if isinstance(design.assigned_value, ReferenceAssignedValue):
        reference = design.assigned_value
        u_x_pt = standard_uncertainty_from_expanded(reference.expanded_uncertainty, reference.coverage_factor)
        return reference.value, u_x_pt, reference.expanded_uncertainty
    assert robust is not None
    u_x_pt = standard_uncertainty_of_consensus(robust.s_star, robust.p)
    return robust.x_star, u_x_pt, CONSENSUS_COVERAGE_FACTOR * u_x_pt


def sigma_pt_of_round(design: RoundDesign, robust: RobustEstimate | None) -> float:
    """sigma_pt: the fixed value, or s* of Algorithm A (8.6), which must not be 0."""
    if isinstance(design.sigma_pt, FixedSigmaPt):
        return design.sigma_pt.value
    assert robust is not None
    if robust.s_star == 0:
        raise ValueError(
            "sigma_pt cannot be derived from s*: s* is 0 because more than half the results are identical"
        )
    return robust.s_star


def _require_one_result_per_lab(results: Sequence[ParticipantResult]) -> None:
    seen: set[str] = set()
    for result in results:
        if result.lab_id in seen:
            raise ValueError(f"lab {result.lab_id} has more than one result; a round takes one per lab")
        seen.add(result.lab_id)


def _lab_performance(
    result: ParticipantResult,
    x_pt: float,
    u_x_pt: float,
    expanded_u_x_pt: float,
    sigma_pt: float,
    z_prime_used: bool,
) -> LabPerformance:
    if z_prime_used:
        kind, score = ScoreKind.Z_PRIME, z_prime_score(result.value, x_pt, sigma_pt, u_x_pt)
    else:
        kind, score = ScoreKind.Z, z_score(result.value, x_pt, sigma_pt)
    zeta = zeta_signal = en = en_signal = None
    u_x = result.standard_uncertainty
    if u_x is not None and result.expanded_uncertainty is not None:
        zeta = zeta_score(result.value, x_pt, u_x, u_x_pt)
        zeta_signal = signal_for_score(zeta)
        en = en_score(result.value, x_pt, result.expanded_uncertainty, expanded_u_x_pt)
        en_signal = signal_for_en(en)
    return LabPerformance(
        lab_id=result.lab_id,
        value=result.value,
        score_kind=kind,
        score=score,
        signal=signal_for_score(score),
        zeta=zeta,
        zeta_signal=zeta_signal,
        en=en,
        en_signal=en_signal,
    )
