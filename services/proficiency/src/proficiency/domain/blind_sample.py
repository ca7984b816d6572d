"""Blind samples: the regulator registers a sample with a known value and an absolute
tolerance and assigns it to a lab, which reports it like any test, not knowing it is a check.

Lifecycle (every other move raises ``SampleAlreadyReported``, HTTP 409)::

    assigned --report (once; evaluated against the known value)--> reported
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import Conflict

from proficiency.domain.errors import InvalidInput
from proficiency.domain.iso13528 import at_most
from proficiency.domain.measurement import InvalidMeasurement, participant_result
from proficiency.domain.round import require_aware


class BlindSampleStatus(StrEnum):
    ASSIGNED = "assigned"
    REPORTED = "reported"


class BlindSampleAction(StrEnum):
    REPORT = "report"


# The statuses each action may start from, and where it leads.
TRANSITIONS: Mapping[BlindSampleAction, tuple[frozenset[BlindSampleStatus], BlindSampleStatus]] = MappingProxyType(
    {BlindSampleAction.REPORT: (frozenset({BlindSampleStatus.ASSIGNED}), BlindSampleStatus.REPORTED)}
)


class InvalidBlindSample(InvalidInput):
    """A known value or tolerance a sample cannot be judged by (422)."""

    rule = "a valid blind sample"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field, self.rule)


class SampleAlreadyReported(Conflict):
    """The illegal transition of a sample: it is reported once (409)."""

    rule = "a sample is reported once"

    def __init__(self, sample_id: str, reported_at: datetime) -> None:
        super().__init__(
            f"sample {sample_id} was reported at {reported_at.isoformat()}; a sample is reported once",
            "sample_id",
            [{"rule": self.rule, "field": "sample_id", "detail": f"reported at {reported_at.isoformat()}"}],
        )


@dataclass(frozen=True)
class BlindSampleEvaluation:
    sample_id: str
    known_value: float
    tolerance: float
    reported_value: float
    deviation: float  # reported - known: positive when the lab reads high
    passed: bool


@dataclass(frozen=True)
class SampleReport:
    """What the lab reported, when, and the verdict it earned."""

    value: float
    expanded_uncertainty: float | None
    coverage_factor: float | None
    at: datetime
    deviation: float
    passed: bool


@dataclass
class BlindSample:
    """A sample the regulator registered with a known value and an absolute tolerance."""

    sample_id: str
    known_value: float
    tolerance: float
    status: BlindSampleStatus = BlindSampleStatus.ASSIGNED
    report: SampleReport | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.known_value):
            raise InvalidBlindSample(
                f"blind sample {self.sample_id}: the known value must be a finite number", "known_value"
            )
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise InvalidBlindSample(
                f"blind sample {self.sample_id}: the tolerance must be a finite non-negative number", "tolerance"
            )

    def evaluate(self, reported_value: float) -> BlindSampleEvaluation:
        """Passed when |reported - known| <= tolerance (a deviation equal to the tolerance passes)."""
        if not math.isfinite(reported_value):
            raise ValueError(f"blind sample {self.sample_id}: the reported value must be a finite number")
        deviation = reported_value - self.known_value
        if not math.isfinite(deviation):  # both finite, but too far apart for their difference
            raise InvalidMeasurement(
                f"sample {self.sample_id}: the reported value {reported_value!r} is beyond the range a "
                "deviation can be computed in", "value", "a finite deviation from the known value",
            )
        return BlindSampleEvaluation(
            sample_id=self.sample_id,
            known_value=self.known_value,
            tolerance=self.tolerance,
            reported_value=reported_value,
            deviation=deviation,
            passed=at_most(abs(deviation), self.tolerance),
        )

    def report_result(
        self,
        lab_id: str,
        value: float,
        *,
        expanded_uncertainty: float | None = None,
        coverage_factor: float | None = None,
        at: datetime,
    ) -> BlindSampleEvaluation:
        """The lab reports its result, once; it is judged against the known value."""
        require_aware(at, "the reporting time")
        allowed_from, reported = TRANSITIONS[BlindSampleAction.REPORT]
        if self.status not in allowed_from:
            assert self.report is not None
            raise SampleAlreadyReported(self.sample_id, self.report.at)
        participant_result(lab_id, value, expanded_uncertainty, coverage_factor)  # U comes with its k
        verdict = self.evaluate(value)
        self.status = reported
        self.report = SampleReport(value, expanded_uncertainty, coverage_factor, at, verdict.deviation, verdict.passed)
        return verdict
