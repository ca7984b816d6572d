"""A proficiency-testing round (ISO/IEC 17043) of one measurand in one test field.

Lifecycle (every other move raises ``RoundClosed``, HTTP 409)::

    open --enrol, submit (until the deadline)--> open
    open --close (at or after the deadline; evaluates the round)--> closed

Open from creation: enrolled labs submit one result each until the deadline (a result
stamped exactly at the deadline is on time). Closing evaluates the round once and for all
(ISO 13528, ``iso13528.evaluate_round``). Times must be timezone-aware so that labs in
different zones are judged by one clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import Conflict, DomainError, Forbidden

from proficiency.domain.errors import InvalidInput, ProficiencyRuleViolation
from proficiency.domain.iso13528 import ParticipantResult, RoundDesign, RoundEvaluation, evaluate_round
from proficiency.domain.measurement import participant_result


class RoundStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RoundAction(StrEnum):
    ENROL = "enrol"
    SUBMIT = "submit"
    CLOSE = "close"


# The statuses each action may start from, and where it leads.
TRANSITIONS: Mapping[RoundAction, tuple[frozenset[RoundStatus], RoundStatus]] = MappingProxyType(
    {
        RoundAction.ENROL: (frozenset({RoundStatus.OPEN}), RoundStatus.OPEN),
        RoundAction.SUBMIT: (frozenset({RoundStatus.OPEN}), RoundStatus.OPEN),
        RoundAction.CLOSE: (frozenset({RoundStatus.OPEN}), RoundStatus.CLOSED),
    }
)


# --- refusals: each names the rule, the field, and answers with its HTTP status -------------


class RoundClosed(ProficiencyRuleViolation, Conflict):
    """The illegal transition of a round: a closed round takes no enrolment, result or closing."""

    rule = "a closed round accepts no results and cannot be closed again"
    refused_field = "status"


class RoundStillOpen(ProficiencyRuleViolation, Conflict):
    rule = "a round is closed only once its deadline has passed"
    refused_field = "deadline"


class LateSubmission(ProficiencyRuleViolation, Conflict):
    rule = "a round accepts results only until its deadline"
    refused_field = "deadline"


class DuplicateSubmission(ProficiencyRuleViolation, Conflict):
    rule = "a round takes one result per enrolled lab"
    refused_field = "lab_uscc"


class LabNotEnrolled(ProficiencyRuleViolation, Forbidden):
    rule = "only labs enrolled in a round may submit results to it"
    refused_field = "lab_uscc"


class ResultForAnotherLab(Forbidden):
    """A lab submits only for itself: the token's organisation is the lab (403)."""

    rule = "a lab submits only for itself"

    def __init__(self, lab: str, named: str) -> None:
        super().__init__(
            f"a lab submits only its own results: the token is lab {lab}'s, the result names lab {named}",
            "lab_uscc",
            [{"rule": self.rule, "field": "lab_uscc", "detail": f"result names lab {named}"}],
        )


class DeadlinePassed(DomainError):
    """A round is opened with its deadline ahead (422)."""

    def __init__(self, deadline: datetime) -> None:
        super().__init__(
            f"the deadline {deadline.isoformat()} has passed: a round needs time for the labs to test",
            field="deadline",
        )


class EnrolmentAfterDeadline(Conflict):
    """A lab enrolled after the deadline could not submit (409)."""

    def __init__(self, round_id: str, deadline: datetime) -> None:
        super().__init__(
            f"round {round_id} accepted results until {deadline.isoformat()}: a lab enrolled now could not submit",
            field="deadline",
        )


class ReportNotPublished(Conflict):
    """A round's report is published when the round is closed (409)."""

    def __init__(self, round_id: str, deadline: datetime) -> None:
        super().__init__(
            f"round {round_id} is open until it is closed after {deadline.isoformat()}; its report comes then",
            field="status",
        )


class InvalidRoundDesign(InvalidInput):
    """An assigned value or sigma_pt ISO 13528 cannot work with (422)."""

    rule = "a valid round design"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field, self.rule)


class RoundCannotBeEvaluated(InvalidInput):
    """The results do not allow an evaluation, e.g. fewer than 3 for a consensus (422)."""

    rule = "the round's results allow an ISO 13528 evaluation"

    def __init__(self, message: str) -> None:
        super().__init__(message, "results", self.rule)


# --- the round ----------------------------------------------------------------------------


@dataclass
class ProficiencyRound:
    """A round, its enrolled labs and their results (in the order they were submitted)."""

    round_id: str
    field: str
    measurand: str
    unit: str
    deadline: datetime
    design: RoundDesign
    enrolled_labs: frozenset[str] = frozenset()
    status: RoundStatus = RoundStatus.OPEN
    submitted: dict[str, ParticipantResult] = dataclasses.field(default_factory=dict)
    evaluation: RoundEvaluation | None = None

    def __post_init__(self) -> None:
        require_aware(self.deadline, "the deadline")
        self.enrolled_labs = frozenset(self.enrolled_labs)

    @classmethod
    def open(
        cls,
        round_id: str,
        *,
        field: str,
        measurand: str,
        unit: str,
        deadline: datetime,
        design: RoundDesign,
        labs: Iterable[str],
        at: datetime,
    ) -> ProficiencyRound:
        """A new round, open to the labs enrolled now; its deadline must be ahead of ``at``."""
        if deadline <= at:
            raise DeadlinePassed(deadline)
        return cls(
            round_id, field=field, measurand=measurand, unit=unit, deadline=deadline, design=design,
            enrolled_labs=frozenset(labs),
        )

    @property
    def results(self) -> tuple[ParticipantResult, ...]:
        """Results in the order they were submitted."""
        return tuple(self.submitted.values())

    def enrol(self, labs: Iterable[str], *, at: datetime) -> list[str]:
        """Enrol labs in the open round before its deadline; returns those not enrolled yet
        (enrolling twice is harmless)."""
        self._guard(RoundAction.ENROL, f"round {self.round_id} is closed; no lab can be enrolled")
        if at > self.deadline:
            raise EnrolmentAfterDeadline(self.round_id, self.deadline)
        new = sorted(set(labs) - self.enrolled_labs)
        self.enrolled_labs |= frozenset(new)
        return new

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
        require_aware(at, "the submission time")
        self._guard(RoundAction.SUBMIT, f"round {self.round_id} is closed; lab {lab_id}'s result was not recorded")
        if lab_id not in self.enrolled_labs:
            raise LabNotEnrolled(f"lab {lab_id} is not enrolled in round {self.round_id}")
        if at > self.deadline:
            raise LateSubmission(
                f"lab {lab_id} submitted to round {self.round_id} at {at.isoformat()}, "
                f"after the deadline {self.deadline.isoformat()}"
            )
        if lab_id in self.submitted:
            raise DuplicateSubmission(f"lab {lab_id} has already submitted a result to round {self.round_id}")
        result = participant_result(lab_id, value, expanded_uncertainty, coverage_factor)
        self.submitted[lab_id] = result
        return result

    def close(self, *, at: datetime) -> RoundEvaluation:
        """Close the round and evaluate it (assigned value, sigma_pt, scores, signals)."""
        require_aware(at, "the closing time")
        self._guard(RoundAction.CLOSE, f"round {self.round_id} is already closed")
        if at < self.deadline:
            raise RoundStillOpen(
                f"round {self.round_id} cannot be closed at {at.isoformat()}: "
                f"it accepts results until {self.deadline.isoformat()}"
            )
        try:
            evaluation = evaluate_round(self.results, self.design)
        except (ValueError, ArithmeticError) as exc:
            raise RoundCannotBeEvaluated(str(exc)) from None
        self.status = TRANSITIONS[RoundAction.CLOSE][1]
        self.evaluation = evaluation
        return evaluation

    def _guard(self, action: RoundAction, detail: str) -> None:
        allowed_from, _ = TRANSITIONS[action]
        if self.status not in allowed_from:
            raise RoundClosed(detail)  # closed is the only status that refuses anything


def require_aware(moment: datetime, what: str) -> None:
    """Instants must carry their time zone, so that labs in different zones share one clock."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
