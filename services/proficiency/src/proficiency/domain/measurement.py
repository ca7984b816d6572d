"""A lab's measurement as ISO 13528 takes it (value, and U with its coverage factor k), for a
round and for a sample alike, or the refusal naming the field at fault."""

from __future__ import annotations

from proficiency.domain.errors import InvalidInput
from proficiency.domain.iso13528 import ParticipantResult


class InvalidMeasurement(InvalidInput):
    """A value, U or k that ISO 13528 cannot score (422)."""

    rule = "an expanded uncertainty U comes with its coverage factor k"

    def __init__(self, message: str, field: str, rule: str | None = None) -> None:
        super().__init__(message, field, rule or self.rule)


def participant_result(
    lab_id: str, value: float, expanded_uncertainty: float | None, coverage_factor: float | None
) -> ParticipantResult:
    """The lab's result, or InvalidMeasurement: a U without its k (or k without U) is refused,
    because we do not guess k (STATISTICS.md)."""
    try:
        return ParticipantResult(lab_id, value, expanded_uncertainty, coverage_factor)
    except ValueError as exc:
        # ParticipantResult names k as "coverage factor" in every message about it.
        field = "coverage_factor" if "coverage" in str(exc) else "expanded_uncertainty"
        raise InvalidMeasurement(str(exc), field) from None
