"""Proficiency rules as plain Python, no I/O and no clock: every instant comes in as ``at``.

- ``iso13528``: the statistics of a round as ISO 13528:2015 describes them (Algorithm A,
  u(x_pt), z, z', zeta, E_n, signals);
- ``round``: a proficiency-testing round (ISO/IEC 17043), open until closed and evaluated;
- ``blind_sample``: a sample with a known value, assigned to a lab, reported once;
- ``measurement``: a lab's value with U and k, as a round or a sample takes it;
- ``outcomes``: lab failures, and when a field of a lab's qualification must be suspended;
- ``errors``: the base classes of the refusals, each naming its rule and field.
"""

from proficiency.domain.blind_sample import (
    BlindSample,
    BlindSampleAction,
    BlindSampleEvaluation,
    BlindSampleStatus,
    InvalidBlindSample,
    SampleAlreadyReported,
    SampleReport,
)
from proficiency.domain.errors import InvalidInput, ProficiencyRuleViolation
from proficiency.domain.iso13528 import (
    AlgorithmAStopping,
    AssignedValueMethod,
    ConsensusAssignedValue,
    FixedSigmaPt,
    LabPerformance,
    ParticipantResult,
    ReferenceAssignedValue,
    RobustSigmaPt,
    RoundDesign,
    RoundEvaluation,
    ScoreKind,
    SigmaPtMethod,
    Signal,
)
from proficiency.domain.measurement import InvalidMeasurement, participant_result
from proficiency.domain.outcomes import (
    BlindSampleOutcome,
    HistoryEntry,
    LabFailureKind,
    OutcomeKind,
    RoundOutcome,
    SuspensionReason,
    SuspensionRule,
    is_lab_failure,
    suspension_required,
)
from proficiency.domain.round import (
    DeadlinePassed,
    DuplicateSubmission,
    EnrolmentAfterDeadline,
    InvalidRoundDesign,
    LabNotEnrolled,
    LateSubmission,
    ProficiencyRound,
    ResultForAnotherLab,
    RoundAction,
    RoundCannotBeEvaluated,
    RoundClosed,
    RoundStatus,
    RoundStillOpen,
    ReportNotPublished,
)

__all__ = [
    "AlgorithmAStopping",
    "AssignedValueMethod",
    "BlindSample",
    "BlindSampleAction",
    "BlindSampleEvaluation",
    "BlindSampleOutcome",
    "BlindSampleStatus",
    "ConsensusAssignedValue",
    "DeadlinePassed",
    "DuplicateSubmission",
    "EnrolmentAfterDeadline",
    "FixedSigmaPt",
    "HistoryEntry",
    "InvalidBlindSample",
    "InvalidInput",
    "InvalidMeasurement",
    "InvalidRoundDesign",
    "LabFailureKind",
    "LabNotEnrolled",
    "LabPerformance",
    "LateSubmission",
    "OutcomeKind",
    "ParticipantResult",
    "ProficiencyRound",
    "ProficiencyRuleViolation",
    "ReferenceAssignedValue",
    "ReportNotPublished",
    "ResultForAnotherLab",
    "RobustSigmaPt",
    "RoundAction",
    "RoundCannotBeEvaluated",
    "RoundClosed",
    "RoundDesign",
    "RoundEvaluation",
    "RoundOutcome",
    "RoundStatus",
    "RoundStillOpen",
    "SampleAlreadyReported",
    "SampleReport",
    "ScoreKind",
    "SigmaPtMethod",
    "Signal",
    "SuspensionReason",
    "SuspensionRule",
    "is_lab_failure",
    "participant_result",
    "suspension_required",
]
