"""Proficiency rules: rounds, blind samples, and when a lab's field is suspended.

Pure Python, no I/O. The statistics a round needs live in ``statistics``; this
module holds the regulator's rules around them:

- a proficiency-testing round (ISO/IEC 17043) accepts one result per enrolled
  lab until its deadline, then is closed and evaluated;
- a blind sample passes when the reported value is within its tolerance of the
  known value;
- a lab failure is an action signal or a failed blind sample; two action signals
  in a row in one field, or one failed blind sample, require that field of the
  lab's qualification to be suspended.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from proficiency.statistics import (
    ParticipantResult,
    RoundDesign,
    RoundEvaluation,
    Signal,
    at_most,
    evaluate_round,
)

# --- Domain exceptions: each message names the rule that refused the request --


class ProficiencyRuleViolation(Exception):
    """A request the proficiency rules refuse; ``rule`` names the rule."""

    rule: str = ""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{detail} (rule: {self.rule})")
        self.detail = detail


class LateSubmission(ProficiencyRuleViolation):
    rule = "a round accepts results only until its deadline"


class DuplicateSubmission(ProficiencyRuleViolation):
    rule = "a round takes one result per enrolled lab"


class LabNotEnrolled(ProficiencyRuleViolation):
    rule = "only labs enrolled in a round may submit results to it"


class RoundClosed(ProficiencyRuleViolation):
    rule = "a closed round accepts no results and cannot be closed again"


class RoundStillOpen(ProficiencyRuleViolation):
    rule = "a round is closed only once its deadline has passed"


# --- Round lifecycle -------------------------------------------------------------


class RoundStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ProficiencyRound:
    """A proficiency-testing round of one measurand in one test field.

    Open from creation: enrolled labs submit one result each until the deadline
    (a result stamped exactly at the deadline is on time). Closing, at or after
    the deadline, evaluates the round once and for all. Times must be
    timezone-aware so that labs in different zones are judged by one clock.
    """

    def __init__(
        self,
        round_id: str,
        *,
        field: str,
        measurand: str,
        unit: str,
        deadline: datetime,
        design: RoundDesign,
        enrolled_labs: Iterable[str],
    ) -> None:
        _require_aware(deadline, "the deadline")
        self.round_id = round_id
        self.field = field
        self.measurand = measurand
        self.unit = unit
        self.deadline = deadline
        self.design = design
        self.enrolled_labs = frozenset(enrolled_labs)
        self.status = RoundStatus.OPEN
        self.evaluation: RoundEvaluation | None = None
        self._results: dict[str, ParticipantResult] = {}

    @property
    def results(self) -> tuple[ParticipantResult, ...]:
        """Results in the order they were submitted."""
        return tuple(self._results.values())

    def submit(
        self,
        lab_id: str,
        value: float,
        *,
        expanded_uncertainty: float | None = None,
        coverage_factor: float | None = None,
        at: datetime,
    ) -> ParticipantResult:
        """Record a lab's result, or refuse it with the rule it breaks."""
        _require_aware(at, "the submission time")
        if self.status is RoundStatus.CLOSED:
            raise RoundClosed(f"round {self.round_id} is closed; lab {lab_id}'s result was not recorded")
        if lab_id not in self.enrolled_labs:
            raise LabNotEnrolled(f"lab {lab_id} is not enrolled in round {self.round_id}")
        if at > self.deadline:
            raise LateSubmission(
                f"lab {lab_id} submitted to round {self.round_id} at {at.isoformat()}, "
                f"after the deadline {self.deadline.isoformat()}"
            )
        if lab_id in self._results:
            raise DuplicateSubmission(f"lab {lab_id} has already submitted a result to round {self.round_id}")
        result = ParticipantResult(lab_id, value, expanded_uncertainty, coverage_factor)
        self._results[lab_id] = result
        return result

    def close(self, *, at: datetime) -> RoundEvaluation:
        """Close the round and evaluate it (assigned value, sigma_pt, scores, signals)."""
        _require_aware(at, "the closing time")
        if self.status is RoundStatus.CLOSED:
            raise RoundClosed(f"round {self.round_id} is already closed")
        if at < self.deadline:
            raise RoundStillOpen(
                f"round {self.round_id} cannot be closed at {at.isoformat()}: "
                f"it accepts results until {self.deadline.isoformat()}"
            )
        evaluation = evaluate_round(self.results, self.design)
        self.status = RoundStatus.CLOSED
        self.evaluation = evaluation
        return evaluation


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")


# --- Blind samples -----------------------------------------------------------------


@dataclass(frozen=True)
class BlindSampleEvaluation:
    sample_id: str
    known_value: float
    tolerance: float
    reported_value: float
    deviation: float  # reported - known: positive when the lab reads high
    passed: bool


@dataclass(frozen=True)
class BlindSample:
    """A sample the regulator registered with a known value and an absolute tolerance.

    The lab reports it like any test, not knowing it is a check.
    """

    sample_id: str
    known_value: float
    tolerance: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.known_value):
            raise ValueError(f"blind sample {self.sample_id}: the known value must be a finite number")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(
                f"blind sample {self.sample_id}: the tolerance must be a finite non-negative number"
            )

    def evaluate(self, reported_value: float) -> BlindSampleEvaluation:
        """Passed when |reported - known| <= tolerance (a deviation equal to the tolerance passes)."""
        if not math.isfinite(reported_value):
            raise ValueError(f"blind sample {self.sample_id}: the reported value must be a finite number")
        deviation = reported_value - self.known_value
        return BlindSampleEvaluation(
            sample_id=self.sample_id,
            known_value=self.known_value,
            tolerance=self.tolerance,
            reported_value=reported_value,
            deviation=deviation,
            passed=at_most(abs(deviation), self.tolerance),
        )


# --- Consequences: when a field of a lab's qualification is suspended --------


@dataclass(frozen=True)
class RoundOutcome:
    """The signal a lab received in one proficiency-testing round of a field."""

    round_id: str
    signal: Signal


@dataclass(frozen=True)
class BlindSampleOutcome:
    """Whether a lab passed one blind sample of a field."""

    sample_id: str
    passed: bool


HistoryEntry = RoundOutcome | BlindSampleOutcome


def is_lab_failure(entry: HistoryEntry) -> bool:
    """A lab failure is an action signal in a round, or a failed blind sample."""
    if isinstance(entry, RoundOutcome):
        return entry.signal is Signal.ACTION
    return not entry.passed


class SuspensionRule(StrEnum):
    TWO_ACTION_SIGNALS_IN_A_ROW = "two action signals in a row in the same field"
    FAILED_BLIND_SAMPLE = "a failed blind sample"


@dataclass(frozen=True)
class SuspensionReason:
    """Why a field must be suspended: the rule, and the rounds or sample that met it."""

    rule: SuspensionRule
    evidence: tuple[str, ...]

    def __str__(self) -> str:
        return f"suspension required by the rule '{self.rule.value}': {', '.join(self.evidence)}"


def suspension_required(history: Sequence[HistoryEntry]) -> SuspensionReason | None:
    """Whether a lab's history in one field requires suspending that field, and why.

    ``history`` is the lab's outcomes in the field, oldest first, since the field
    was last granted or reinstated. Suspension is required by one failed blind
    sample, or by action signals in two consecutive rounds of the lab in the
    field; any other signal in between (acceptable or warning) breaks the run.
    Blind samples are not rounds: a passed one neither breaks nor extends a run.
    The first rule met, in time order, is the reason given.
    """
    previous_round: RoundOutcome | None = None
    for entry in history:
        if isinstance(entry, BlindSampleOutcome):
            if not entry.passed:
                return SuspensionReason(SuspensionRule.FAILED_BLIND_SAMPLE, (entry.sample_id,))
            continue
        if (
            previous_round is not None
            and previous_round.signal is Signal.ACTION
            and entry.signal is Signal.ACTION
        ):
            return SuspensionReason(
                SuspensionRule.TWO_ACTION_SIGNALS_IN_A_ROW, (previous_round.round_id, entry.round_id)
            )
        previous_round = entry
    return None
