"""Supervision rules: credit classes, and who may record which inspection result.

Pure Python, no I/O. The service layer loads these objects, calls a rule and turns the
returned facts (credit changes, failed spot checks, verified rectifications) into the
shared events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import Conflict, DomainError, Forbidden
from conformity_shared.events import CreditClass, OrganisationKind

# ==================================================================================
# Credit classes
# ==================================================================================

# Best first: lowering moves right, restoration moves left.
CREDIT_ORDER: tuple[CreditClass, ...] = (CreditClass.A, CreditClass.B, CreditClass.C, CreditClass.D)
RESTORATION_CAUSE = "clean_period"


class FailureKind(StrEnum):
    """Failures anywhere that lower an organisation's credit class (DESIGN, supervision)."""

    SPOT_CHECK_FAILED = "spot_check_failed"
    INSPECTION_FAILED = "inspection_failed"
    COMMITMENT_BREACHED = "commitment_breached"
    LAB_FAILURE = "lab_failure"


# How many classes each failure lowers. A breached commitment marks the organisation as
# untrustworthy (a signed declaration proved false), so it goes to D from any class;
# the other failures cost one class each.
DEFAULT_LOWERING: Mapping[FailureKind, int] = MappingProxyType(
    {
        FailureKind.SPOT_CHECK_FAILED: 1,
        FailureKind.INSPECTION_FAILED: 1,
        FailureKind.LAB_FAILURE: 1,
        FailureKind.COMMITMENT_BREACHED: len(CREDIT_ORDER) - 1,
    }
)
DEFAULT_CLEAN_PERIOD = dt.timedelta(days=365)


class InvalidCreditPolicy(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "credit_policy", [{"rule": "credit_policy", "detail": message}])


@dataclass(frozen=True)
class CreditPolicy:
    """Configurable credit rules: classes lost per failure, and the clean period."""

    clean_period: dt.timedelta = DEFAULT_CLEAN_PERIOD
    lowering: Mapping[FailureKind, int] = field(default_factory=lambda: DEFAULT_LOWERING)

    def __post_init__(self) -> None:
        if self.clean_period <= dt.timedelta(0):
            raise InvalidCreditPolicy(f"the clean period must be positive, is {self.clean_period}")
        lowering = {FailureKind(k): v for k, v in self.lowering.items()}
        missing = [k.value for k in FailureKind if k not in lowering]
        if missing:
            raise InvalidCreditPolicy(f"classes to lower are required for every failure, missing: {', '.join(missing)}")
        bad = [f"{k}={v}" for k, v in lowering.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        if bad:
            raise InvalidCreditPolicy(f"every failure lowers at least one class: {', '.join(bad)}")
        object.__setattr__(self, "lowering", MappingProxyType(lowering))


def lowered(credit_class: CreditClass, classes: int) -> CreditClass:
    """The class `classes` steps worse, never below D."""
    position = CREDIT_ORDER.index(CreditClass(credit_class))
    return CREDIT_ORDER[min(position + classes, len(CREDIT_ORDER) - 1)]


def restored(credit_class: CreditClass) -> CreditClass:
    """The class one step better, never above A."""
    position = CREDIT_ORDER.index(CreditClass(credit_class))
    return CREDIT_ORDER[max(position - 1, 0)]


@dataclass(frozen=True)
class Failure:
    """One failure of an organisation: what, which record (inspection, round, approval), when."""

    kind: FailureKind
    reference: str
    at: dt.datetime


@dataclass(frozen=True)
class CreditChange:
    """A change of credit class, as CreditClassChangedV1 publishes it."""

    organisation: str
    previous: CreditClass
    current: CreditClass
    cause: str  # a FailureKind value, or RESTORATION_CAUSE
    at: dt.datetime
    reference: str | None = None


@dataclass(frozen=True)
class CreditStanding:
    """An organisation's credit class and the start of its current clean period.

    `clean_since` is the later of the last failure and the last restoration; every full
    clean period after it earns one class back.
    """

    organisation: str
    credit_class: CreditClass
    clean_since: dt.datetime

    @classmethod
    def new(cls, organisation: str, at: dt.datetime, credit_class: CreditClass = CreditClass.A) -> CreditStanding:
        """A newly listed organisation: no failure on record, so class A unless told otherwise."""
        return cls(organisation, CreditClass(credit_class), at)

    def record_failure(
        self, failure: Failure, policy: CreditPolicy | None = None
    ) -> tuple[CreditStanding, CreditChange | None]:
        """Lower the class by the policy's steps for this failure (never below D).

        The failure restarts the clean period even at D; the change is None when the
        class cannot move.
        """
        policy = policy or CreditPolicy()
        current = lowered(self.credit_class, policy.lowering[FailureKind(failure.kind)])
        standing = replace(self, credit_class=current, clean_since=max(self.clean_since, failure.at))
        if current == self.credit_class:
            return standing, None
        cause = FailureKind(failure.kind).value
        change = CreditChange(self.organisation, self.credit_class, current, cause, failure.at, failure.reference)
        return standing, change

    def restore_if_clean(
        self, now: dt.datetime, policy: CreditPolicy | None = None
    ) -> tuple[CreditStanding, CreditChange | None]:
        """Raise the class by one after a full clean period without failures (never above A).

        The next period starts where this one ended, not at `now`, so the result does not
        depend on how often the check runs; a long clean record earns one class per call
        until it is caught up.
        """
        policy = policy or CreditPolicy()
        if self.credit_class == CreditClass.A:
            return self, None
        period_end = self.clean_since + policy.clean_period
        if now < period_end:
            return self, None
        current = restored(self.credit_class)
        standing = replace(self, credit_class=current, clean_since=period_end)
        return standing, CreditChange(self.organisation, self.credit_class, current, RESTORATION_CAUSE, period_end)


# ==================================================================================
# Inspections and their results
# ==================================================================================


class InspectionKind(StrEnum):
    ORGANISATION_INSPECTION = "organisation_inspection"  # a certification body or a lab
    PRODUCT_SPOT_CHECK = "product_spot_check"  # certified products of an enterprise
    RE_INSPECTION = "re_inspection"  # follow-up of a failed product spot check


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class NotAssignedInspector(Forbidden):
    """Rule: only an inspector assigned to an inspection records its result."""

    def __init__(self, inspector_id: str, inspection_id: str) -> None:
        super().__init__(
            f"only an assigned inspector records a result: inspector {inspector_id} "
            f"is not assigned to inspection {inspection_id}"
        )
        self.rules = [{"rule": "only_assigned_inspector_records", "detail": self.message}]


class ResultAlreadyRecorded(Conflict):
    """Rule: an inspection has one result; a later check is a new (re-)inspection."""

    def __init__(self, inspection_id: str) -> None:
        super().__init__(
            f"a result is recorded once: inspection {inspection_id} already has one; "
            "a later check is a re-inspection",
            "result",
        )


class FindingsRequiredOnFail(DomainError):
    """Rule: a failed result states its findings."""

    def __init__(self, inspection_id: str) -> None:
        super().__init__(
            f"findings are required on fail: inspection {inspection_id} failed without findings",
            "findings",
            [{"rule": "findings_required_on_fail", "detail": inspection_id}],
        )


class SampleResultsRequired(DomainError):
    """Rule: a product spot check is recorded with one result per sampled certificate."""

    def __init__(self, inspection_id: str, detail: str) -> None:
        super().__init__(
            f"a product spot check is recorded with its per-certificate sample results: "
            f"inspection {inspection_id}: {detail}",
            "samples",
            [{"rule": "spot_check_sample_results", "detail": detail}],
        )


class InvalidInspection(DomainError):
    """An inspection that the rules do not allow to be opened."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field, [{"rule": "inspection", "detail": message}])


@dataclass(frozen=True)
class SampleResult:
    """The result of the samples taken under one certificate."""

    certificate_number: str
    passed: bool
    finding: str = ""


@dataclass(frozen=True)
class InspectionResult:
    inspector_id: str
    verdict: Verdict
    findings: str
    recorded_at: dt.datetime
    samples: tuple[SampleResult, ...] = ()

    @property
    def failed_certificates(self) -> tuple[str, ...]:
        """Certificates with at least one failed sample, sorted, each once."""
        return tuple(sorted({s.certificate_number for s in self.samples if not s.passed}))


# Facts a recorded result gives rise to; the service publishes the matching events.


@dataclass(frozen=True)
class SpotCheckFailed:
    """The named certificates of the holder must be suspended (SpotCheckFailedV1)."""

    inspection_id: str
    holder_id: str
    certificate_numbers: tuple[str, ...]
    findings: str


@dataclass(frozen=True)
class RectificationVerified:
    """The certificates suspended by `spot_check_id` may be reinstated (RectificationVerifiedV1)."""

    inspection_id: str
    spot_check_id: str
    holder_id: str
    certificate_numbers: tuple[str, ...]


@dataclass(frozen=True)
class InspectionFailed:
    """A certification body or lab failed its inspection (InspectionFailedV1)."""

    inspection_id: str
    target_id: str
    target_kind: OrganisationKind
    findings: str


Consequence = SpotCheckFailed | RectificationVerified | InspectionFailed


@dataclass(frozen=True)
class Recorded:
    """What recording a result produced: the updated inspection, its consequences, and the
    credit failure to apply to the target (None on a pass)."""

    inspection: Inspection
    consequences: tuple[Consequence, ...]
    credit_failure: Failure | None


@dataclass(frozen=True)
class Inspection:
    """One drawn (or follow-up) inspection of a target by its assigned inspectors."""

    id: str
    kind: InspectionKind
    target_id: str
    target_kind: OrganisationKind
    inspector_ids: frozenset[str]
    result: InspectionResult | None = None
    # For a re-inspection: the failed spot check it follows up, and its failed certificates.
    spot_check_id: str | None = None
    certificates_to_verify: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", InspectionKind(self.kind))
        object.__setattr__(self, "target_kind", OrganisationKind(self.target_kind))
        object.__setattr__(self, "inspector_ids", frozenset(self.inspector_ids))
        if not self.inspector_ids:
            raise InvalidInspection(f"inspection {self.id} has no assigned inspector", "inspector_ids")
        enterprise = self.target_kind == OrganisationKind.ENTERPRISE
        if self.kind == InspectionKind.ORGANISATION_INSPECTION and enterprise:
            raise InvalidInspection("an organisation inspection targets a certification body or a lab", "kind")
        if self.kind != InspectionKind.ORGANISATION_INSPECTION and not enterprise:
            raise InvalidInspection(f"a {self.kind} targets a certified enterprise", "kind")
        if self.kind == InspectionKind.RE_INSPECTION and not (self.spot_check_id and self.certificates_to_verify):
            raise InvalidInspection(
                "a re-inspection follows up a failed spot check and its certificates", "spot_check_id"
            )

    @classmethod
    def re_inspection_of(cls, spot_check: Inspection, id: str, inspector_ids: Iterable[str]) -> Inspection:
        """Open the re-inspection that will verify rectification of a failed product spot check."""
        if spot_check.kind != InspectionKind.PRODUCT_SPOT_CHECK:
            raise InvalidInspection(
                f"only a product spot check is re-inspected, {spot_check.id} is a {spot_check.kind}"
            )
        if spot_check.result is None or spot_check.result.verdict != Verdict.FAIL:
            raise InvalidInspection(f"only a failed spot check is re-inspected, {spot_check.id} has not failed")
        return cls(
            id=id,
            kind=InspectionKind.RE_INSPECTION,
            target_id=spot_check.target_id,
            target_kind=spot_check.target_kind,
            inspector_ids=frozenset(inspector_ids),
            spot_check_id=spot_check.id,
            certificates_to_verify=spot_check.result.failed_certificates,
        )

    def _check_can_record(self, inspector_id: str) -> None:
        if inspector_id not in self.inspector_ids:
            raise NotAssignedInspector(inspector_id, self.id)
        if self.result is not None:
            raise ResultAlreadyRecorded(self.id)

    def record_result(
        self, inspector_id: str, verdict: Verdict, findings: str, at: dt.datetime
    ) -> Recorded:
        """Record pass, or fail with findings, for an organisation inspection or a re-inspection.

        A re-inspection that passes verifies rectification of the spot check's certificates.
        """
        self._check_can_record(inspector_id)
        verdict = Verdict(verdict)
        if self.kind == InspectionKind.PRODUCT_SPOT_CHECK:
            raise SampleResultsRequired(self.id, "record it with record_spot_check, not a bare verdict")
        findings = findings.strip()
        if verdict == Verdict.FAIL and not findings:
            raise FindingsRequiredOnFail(self.id)
        recorded = replace(self, result=InspectionResult(inspector_id, verdict, findings, at))

        if verdict == Verdict.PASS:
            if self.kind == InspectionKind.RE_INSPECTION:
                assert self.spot_check_id is not None  # guaranteed by __post_init__
                certificates = self.certificates_to_verify
                verified = RectificationVerified(self.id, self.spot_check_id, self.target_id, certificates)
                return Recorded(recorded, (verified,), None)
            return Recorded(recorded, (), None)
        if self.kind == InspectionKind.RE_INSPECTION:
            # The certificates stay suspended; their suspension deadline takes its course.
            return Recorded(recorded, (), Failure(FailureKind.SPOT_CHECK_FAILED, self.id, at))
        failed = InspectionFailed(self.id, self.target_id, self.target_kind, findings)
        return Recorded(recorded, (failed,), Failure(FailureKind.INSPECTION_FAILED, self.id, at))

    def record_spot_check(
        self, inspector_id: str, samples: Iterable[SampleResult], findings: str, at: dt.datetime
    ) -> Recorded:
        """Record a product spot check: it fails if any sample fails, naming those certificates."""
        self._check_can_record(inspector_id)
        if self.kind != InspectionKind.PRODUCT_SPOT_CHECK:
            raise InvalidInspection(f"inspection {self.id} is a {self.kind}, not a product spot check", "kind")
        samples = tuple(samples)
        if not samples:
            raise SampleResultsRequired(self.id, "no sample result given")
        if any(not s.certificate_number for s in samples):
            raise SampleResultsRequired(self.id, "every sample result names its certificate")
        findings = findings.strip()
        failed = tuple(sorted({s.certificate_number for s in samples if not s.passed}))
        verdict = Verdict.FAIL if failed else Verdict.PASS
        if failed and not findings:
            raise FindingsRequiredOnFail(self.id)
        recorded = replace(self, result=InspectionResult(inspector_id, verdict, findings, at, samples))
        if not failed:
            return Recorded(recorded, (), None)
        spot_check_failed = SpotCheckFailed(self.id, self.target_id, failed, findings)
        return Recorded(recorded, (spot_check_failed,), Failure(FailureKind.SPOT_CHECK_FAILED, self.id, at))
