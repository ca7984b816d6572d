"""Consequences (DESIGN flow 4): a lab's outcomes in a field, its failures, and when that field
of its qualification must be suspended.

A lab failure is an action signal or a failed blind sample; two action signals in a row in
one field, or one failed blind sample, require that field to be suspended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from proficiency.domain.iso13528 import Signal


class OutcomeKind(StrEnum):
    ROUND = "round"
    BLIND_SAMPLE = "blind_sample"


class LabFailureKind(StrEnum):
    """What a lab failed (``LabFailureV1.failure``)."""

    ACTION_SIGNAL = "action_signal"
    BLIND_SAMPLE_FAILED = "blind_sample_failed"


@dataclass(frozen=True)
class RoundOutcome:
    """The signal a lab received in one proficiency-testing round of a field."""

    kind: ClassVar[OutcomeKind] = OutcomeKind.ROUND
    failure_kind: ClassVar[LabFailureKind] = LabFailureKind.ACTION_SIGNAL

    round_id: str
    signal: Signal

    @property
    def reference_id(self) -> str:
        return self.round_id


@dataclass(frozen=True)
class BlindSampleOutcome:
    """Whether a lab passed one blind sample of a field."""

    kind: ClassVar[OutcomeKind] = OutcomeKind.BLIND_SAMPLE
    failure_kind: ClassVar[LabFailureKind] = LabFailureKind.BLIND_SAMPLE_FAILED

    sample_id: str
    passed: bool

    @property
    def reference_id(self) -> str:
        return self.sample_id


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
