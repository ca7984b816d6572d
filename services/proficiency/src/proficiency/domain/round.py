"""A proficiency-testing round (ISO/IEC 17043) of one measurand in one test field.

Lifecycle (every other move raises ``RoundClosed`` or ``RoundCancelled``, HTTP 409)::

    open --enrol, submit (until the deadline)--> open
    open --close (at or after the deadline; evaluates the round as designed)--> closed
    open --close_with_chosen_values (at or after the deadline, when the design cannot be
           evaluated; the regulator chooses a reference value and/or a fixed sigma_pt)--> closed
    open --cancel (at any time, with a reason; no scores, no lab failures)--> cancelled

Open from creation: enrolled labs submit one result each until the deadline (a result
stamped exactly at the deadline is on time). Closing evaluates the round once and for all
(ISO 13528, ``iso13528.evaluate_round``). A round whose results its design cannot evaluate
(too few for Algorithm A, or s* = 0) would stay open for ever: the regulator either cancels
it or closes it with the values the results could not give, chosen then and recorded with
who chose them and why. Times must be timezone-aware so that labs in different zones are
judged by one clock.
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
from proficiency.domain.iso13528 import (
    ConsensusAssignedValue,
    FixedSigmaPt,
    ParticipantResult,
    ReferenceAssignedValue,
    RobustSigmaPt,
    RoundDesign,
    RoundEvaluation,
    evaluate_round,
)
from proficiency.domain.measurement import participant_result


class RoundStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class RoundAction(StrEnum):
    ENROL = "enrol"
    SUBMIT = "submit"
    CLOSE = "close"
    CLOSE_WITH_CHOSEN_VALUES = "close_with_chosen_values"
    CANCEL = "cancel"


# The statuses each action may start from, and where it leads.
TRANSITIONS: Mapping[RoundAction, tuple[frozenset[RoundStatus], RoundStatus]] = MappingProxyType(
    {
        RoundAction.ENROL: (frozenset({RoundStatus.OPEN}), RoundStatus.OPEN),
        RoundAction.SUBMIT: (frozenset({RoundStatus.OPEN}), RoundStatus.OPEN),
        RoundAction.CLOSE: (frozenset({RoundStatus.OPEN}), RoundStatus.CLOSED),
        RoundAction.CLOSE_WITH_CHOSEN_VALUES: (frozenset({RoundStatus.OPEN}), RoundStatus.CLOSED),
        RoundAction.CANCEL: (frozenset({RoundStatus.OPEN}), RoundStatus.CANCELLED),
    }
)


# --- refusals: each names the rule, the field, and answers with its HTTP status -------------


class RoundClosed(ProficiencyRuleViolation, Conflict):
    """An illegal transition of a round: a closed round takes no enrolment, result, closing or
    cancellation."""

    rule = "a closed round accepts no results and cannot be closed again or cancelled"
    refused_field = "status"


class RoundCancelled(ProficiencyRuleViolation, Conflict):
    """An illegal transition of a round: a cancelled round takes no enrolment, result or closing."""

    rule = "a cancelled round accepts no results and cannot be closed or cancelled again"
    refused_field = "status"


class RoundEvaluableAsDesigned(ProficiencyRuleViolation, Conflict):
    """Values are chosen at closing only for a round its own design cannot evaluate (409)."""

    rule = "a round its design can evaluate is closed as designed"
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


class InvalidClosingDecision(InvalidInput):
    """Values chosen at closing that do not make the round evaluable, or that replace what the
    design had already fixed (422, naming the part)."""

    rule = "values chosen at closing replace what the results could not give, and allow an evaluation"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field, self.rule)


class MissingReason(InvalidInput):
    """A cancellation or a closing decision says why (422, ``reason``)."""

    rule = "the regulator states the reason for cancelling a round or choosing its values"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs its reason", "reason", self.rule)


class CancelledRoundHasNoReport(Conflict):
    """A cancelled round has no scores and no report (409)."""

    def __init__(self, round_id: str, reason: str) -> None:
        super().__init__(
            f"round {round_id} was cancelled ({reason}): it has no scores and no report",
            field="status",
        )


class RoundCannotBeEvaluated(InvalidInput):
    """The results do not allow an evaluation, e.g. fewer than 3 for a consensus (422)."""

    rule = "the round's results allow an ISO 13528 evaluation"

    def __init__(self, message: str) -> None:
        super().__init__(message, "results", self.rule)


# --- the regulator's way out -----------------------------------------------------------------


@dataclass(frozen=True)
class Cancellation:
    """Why, by whom and when a round was cancelled."""

    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class ClosingDecision:
    """The values the regulator chose at closing for what the results could not give (a
    reference value for a consensus, a fixed sigma_pt for a robust one), why, by whom, when."""

    assigned_value: ReferenceAssignedValue | None
    sigma_pt: FixedSigmaPt | None
    reason: str
    by: str
    at: datetime

    @property
    def chosen(self) -> tuple[str, ...]:
        """The parts of the design chosen at closing: "assigned_value", "sigma_pt"."""
        return tuple(name for name, value in (("assigned_value", self.assigned_value), ("sigma_pt", self.sigma_pt))
                     if value is not None)

    def applied_to(self, design: RoundDesign) -> RoundDesign:
        """The design the round is evaluated by: the chosen values in place of the parts the results
        were to give, or InvalidClosingDecision naming a part the design had already fixed."""
        if not self.chosen:
            raise InvalidClosingDecision(
                "choose a reference value (assigned_value), a fixed sigma_pt, or both", "assigned_value"
            )
        if self.assigned_value is not None and not isinstance(design.assigned_value, ConsensusAssignedValue):
            raise InvalidClosingDecision(
                "the round's reference value was stated in advance; it is not chosen again at closing", "assigned_value"
            )
        if self.sigma_pt is not None and not isinstance(design.sigma_pt, RobustSigmaPt):
            raise InvalidClosingDecision(
                "the round's sigma_pt was fixed in advance; it is not chosen again at closing", "sigma_pt"
            )
        assigned = design.assigned_value if self.assigned_value is None else self.assigned_value
        sigma = design.sigma_pt if self.sigma_pt is None else self.sigma_pt
        return dataclasses.replace(design, assigned_value=assigned, sigma_pt=sigma)


def stated_reason(reason: str, what: str) -> str:
    """The reason, stripped, or MissingReason when there is none."""
    if not reason or not reason.strip():
        raise MissingReason(what)
    return reason.strip()


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
    cancellation: Cancellation | None = None
    closing_decision: ClosingDecision | None = None

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
        self._guard(RoundAction.ENROL, "no lab can be enrolled")
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
        self._guard(RoundAction.SUBMIT, f"lab {lab_id}'s result was not recorded")
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
        """Close the round and evaluate it as designed (assigned value, sigma_pt, scores, signals)."""
        require_aware(at, "the closing time")
        self._guard(RoundAction.CLOSE, "it cannot be closed")
        self._require_deadline_passed(at)
        evaluation = self._evaluated(self.design)
        self.status = TRANSITIONS[RoundAction.CLOSE][1]
        self.evaluation = evaluation
        return evaluation

    def close_with_chosen_values(
        self,
        assigned_value: ReferenceAssignedValue | None,
        sigma_pt: FixedSigmaPt | None,
        *,
        reason: str,
        by: str,
        at: datetime,
    ) -> RoundEvaluation:
        """Close a round its design cannot evaluate with the values the regulator chooses now for
        what the results could not give: a reference value in place of the consensus, a fixed
        sigma_pt in place of s*, or both. The choice, its reason, who made it and when are kept
        (``closing_decision``)."""
        require_aware(at, "the closing time")
        self._guard(RoundAction.CLOSE_WITH_CHOSEN_VALUES, "it cannot be closed")
        decision = ClosingDecision(assigned_value, sigma_pt, stated_reason(reason, "a closing decision"), by, at)
        self._require_deadline_passed(at)
        design = decision.applied_to(self.design)
        self._require_not_evaluable_as_designed()
        try:
            evaluation = evaluate_round(self.results, design)
        except (ValueError, ArithmeticError) as exc:
            raise InvalidClosingDecision(
                f"with the values chosen, round {self.round_id} still cannot be evaluated: {exc}", _left_to_results(design)
            ) from None
        self.status = TRANSITIONS[RoundAction.CLOSE_WITH_CHOSEN_VALUES][1]
        self.evaluation, self.closing_decision = evaluation, decision
        return evaluation

    def cancel(self, reason: str, *, by: str, at: datetime) -> Cancellation:
        """Cancel the open round, at any time, with its reason: no scores, no lab failures."""
        require_aware(at, "the cancellation time")
        self._guard(RoundAction.CANCEL, "it cannot be cancelled")
        cancellation = Cancellation(stated_reason(reason, "a cancellation"), by, at)
        self.status = TRANSITIONS[RoundAction.CANCEL][1]
        self.cancellation = cancellation
        return cancellation

    def _require_deadline_passed(self, at: datetime) -> None:
        if at < self.deadline:
            raise RoundStillOpen(
                f"round {self.round_id} cannot be closed at {at.isoformat()}: "
                f"it accepts results until {self.deadline.isoformat()}"
            )

    def _evaluated(self, design: RoundDesign) -> RoundEvaluation:
        try:
            return evaluate_round(self.results, design)
        except (ValueError, ArithmeticError) as exc:
            raise RoundCannotBeEvaluated(str(exc)) from None

    def _require_not_evaluable_as_designed(self) -> None:
        try:
            self._evaluated(self.design)
        except RoundCannotBeEvaluated:
            return
        raise RoundEvaluableAsDesigned(
            f"round {self.round_id} can be evaluated as designed: close it, no values are chosen for it"
        )

    def _guard(self, action: RoundAction, consequence: str) -> None:
        allowed_from, _ = TRANSITIONS[action]
        if self.status in allowed_from:
            return
        detail = f"round {self.round_id} is {self.status.value}; {consequence}"
        if self.status is RoundStatus.CANCELLED:
            raise RoundCancelled(detail)
        raise RoundClosed(detail)


def _left_to_results(design: RoundDesign) -> str:
    """The part of the design the results still had to give, which kept it from an evaluation."""
    if isinstance(design.sigma_pt, RobustSigmaPt):
        return "sigma_pt"
    if isinstance(design.assigned_value, ConsensusAssignedValue):
        return "assigned_value"
    return "results"


def require_aware(moment: datetime, what: str) -> None:
    """Instants must carry their time zone, so that labs in different zones share one clock."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
