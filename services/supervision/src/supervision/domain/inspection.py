"""Inspections: who records which result, and what a recorded result sets off.

Pure Python, no I/O, no clock: every rule receives the instant it decides at. The service
loads an ``Inspection``, calls ``record``, saves the completed inspection and turns the
returned facts (failed spot checks, verified rectifications, failed inspections, a credit
failure) into the shared events.

Lifecycle (a second result raises ``ResultAlreadyRecorded``, HTTP 409)::

    assigned --record--> completed

An inspection is opened assigned to its inspectors, drawn in a campaign or ordered by the
regulator; one of them records its one result. An inspection ordered by hand follows the
draw's assignment rules (``check_order``): at least two registered, active inspectors, none
from the target's organisation, none who inspected the target in the previous drawn
campaign. The regulator may set aside the number of inspectors or the previous-campaign
rule with an explicit ``AssignmentOverride`` and its reason, kept on the inspection; the
organisation conflict and an inactive inspector are never set aside. A product spot check is recorded with one
result per sampled certificate and fails when any sample fails; an organisation inspection
and a re-inspection are recorded with a verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import Conflict, DomainError, Forbidden
from conformity_shared.events import OrganisationKind

from supervision.domain.credit import Failure, FailureKind
from supervision.domain.draw import MIN_INSPECTORS_PER_TARGET, DrawnTarget, Inspector


class InspectionKind(StrEnum):
    ORGANISATION_INSPECTION = "organisation_inspection"  # a certification body or a lab
    PRODUCT_SPOT_CHECK = "product_spot_check"  # certified products of an enterprise
    RE_INSPECTION = "re_inspection"  # follow-up of a failed product spot check


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class InspectionStatus(StrEnum):
    ASSIGNED = "assigned"  # open: its inspectors are to record the result
    COMPLETED = "completed"  # its one result is recorded, and published


class InspectionAction(StrEnum):
    RECORD = "record"


# action: (statuses it is allowed from, the status it leads to)
INSPECTION_TRANSITIONS: Mapping[InspectionAction, tuple[frozenset[InspectionStatus], InspectionStatus]] = (
    MappingProxyType(
        {InspectionAction.RECORD: (frozenset({InspectionStatus.ASSIGNED}), InspectionStatus.COMPLETED)}
    )
)

# Which inspection a drawn target gets: organisations are inspected, enterprises spot-checked.
INSPECTION_FOR: Mapping[OrganisationKind, InspectionKind] = MappingProxyType(
    {
        OrganisationKind.CERTIFICATION_BODY: InspectionKind.ORGANISATION_INSPECTION,
        OrganisationKind.TESTING_LAB: InspectionKind.ORGANISATION_INSPECTION,
        OrganisationKind.ENTERPRISE: InspectionKind.PRODUCT_SPOT_CHECK,
    }
)


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


class VerdictRequired(DomainError):
    """Rule: an organisation inspection or a re-inspection is recorded with its verdict."""

    def __init__(self) -> None:
        super().__init__("verdict (pass or fail) is required for this inspection", "verdict")


class SamplesOnlyOnSpotChecks(DomainError):
    """Rule: per-certificate sample results are what a product spot check is recorded with, only."""

    def __init__(self) -> None:
        super().__init__("sample results belong to product spot checks only", "samples")


class VerdictContradictsSamples(DomainError):
    """Rule: a spot check's verdict follows from its samples; one given must be that one."""

    def __init__(self, given: Verdict | str, from_samples: Verdict) -> None:
        super().__init__(f"verdict {given} contradicts the sample results ({from_samples})", "verdict")


class ReInspectionOfAnotherTarget(DomainError):
    """Rule: a re-inspection checks the enterprise whose spot check failed, no other."""

    def __init__(self) -> None:
        super().__init__("a re-inspection targets the enterprise of its spot check", "target_uscc")


class InspectorNotAssignable(DomainError):
    """Rule: an inspection is assigned registered, active inspectors without a conflict of interest."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "inspector_ids")


def check_assignable(target_id: str, inspector_ids: Sequence[str], registered: Mapping[str, Inspector]) -> None:
    """Refuse, naming the first inspector at fault, one who is not registered, not active, or
    who works for the target (a conflict of interest)."""
    for inspector_id in inspector_ids:
        inspector = registered.get(inspector_id)
        if inspector is None:
            raise InspectorNotAssignable(f"inspector {inspector_id} is not registered")
        if not inspector.active:
            raise InspectorNotAssignable(f"inspector {inspector_id} is not active")
        if inspector.organisation == target_id:
            raise InspectorNotAssignable(f"inspector {inspector_id} works for the target (conflict of interest)")


class AssignmentRule(StrEnum):
    """The assignment rules a regulator may set aside, with a reason, on an inspection ordered by hand."""

    MIN_INSPECTORS_PER_TARGET = "min_inspectors_per_target"  # at least MIN_INSPECTORS_PER_TARGET inspectors
    PREVIOUS_CAMPAIGN_CONFLICT = "previous_campaign_conflict"  # none who inspected the target last campaign


class AssignmentNeedsOverride(DomainError):
    """Rule: an inspection ordered by hand is assigned as a draw would assign it, unless overridden."""

    def __init__(self, broken: Mapping[AssignmentRule, str]) -> None:
        rules = sorted(broken)
        names = ", ".join(f'"{r.value}"' for r in rules)
        super().__init__(
            "an inspection ordered by hand follows the draw's assignment rules: "
            + "; ".join(broken[r] for r in rules)
            + f'; to make an exception, order it with "override": {{"rules": [{names}], "reason": "..."}}',
            "inspector_ids",
            [{"rule": r.value, "detail": broken[r]} for r in rules],
        )


class InvalidOverride(DomainError):
    """An override the rules refuse: no reason, an unknown or never-overridden rule, or one not needed."""

    def __init__(self, message: str, field: str, rule: str) -> None:
        super().__init__(message, field, [{"rule": rule, "detail": message}])


@dataclass(frozen=True)
class AssignmentOverride:
    """The regulator sets aside `rules` for one inspection ordered by hand, for `reason`."""

    rules: frozenset[AssignmentRule]
    reason: str

    @classmethod
    def of(cls, rules: Iterable[str], reason: str) -> AssignmentOverride:
        """Read an override as the regulator gives it: known, overridable rules and a reason."""
        rules = list(rules)
        overridable = ", ".join(r.value for r in AssignmentRule)
        if not rules:
            raise InvalidOverride(f"an override names the rules it sets aside ({overridable})", "override.rules",
                                  "override_names_its_rules")
        unknown = [r for r in rules if r not in {a.value for a in AssignmentRule}]
        if unknown:
            raise InvalidOverride(
                f"only {overridable} may be overridden, not {', '.join(unknown)} (an inspector of the target's own "
                "organisation, or an inactive one, is never assigned)", "override.rules", "override_rule_overridable",
            )
        if not reason.strip():
            raise InvalidOverride("an override states its reason; it is recorded on the inspection",
                                  "override.reason", "override_reason_required")
        return cls(frozenset(AssignmentRule(r) for r in rules), reason.strip())

    def to_json(self) -> dict[str, object]:
        return {"rules": sorted(r.value for r in self.rules), "reason": self.reason}


def broken_assignment_rules(
    target_id: str, inspector_ids: Iterable[str], previous_inspectors: Iterable[str]
) -> dict[AssignmentRule, str]:
    """The overridable rules an assignment breaks, each with what breaks it."""
    assigned = sorted(set(inspector_ids))
    broken: dict[AssignmentRule, str] = {}
    if len(assigned) < MIN_INSPECTORS_PER_TARGET:
        broken[AssignmentRule.MIN_INSPECTORS_PER_TARGET] = (
            f"at least {MIN_INSPECTORS_PER_TARGET} inspectors are assigned, {len(assigned)} given"
        )
    again = [i for i in assigned if i in set(previous_inspectors)]
    if again:
        broken[AssignmentRule.PREVIOUS_CAMPAIGN_CONFLICT] = (
            f"{', '.join(again)} inspected {target_id} in the previous drawn campaign (conflict of interest)"
        )
    return broken


def check_order(
    target_id: str,
    inspector_ids: Sequence[str],
    registered: Mapping[str, Inspector],
    previous_inspectors: Iterable[str],
    override: AssignmentOverride | None = None,
) -> AssignmentOverride | None:
    """Check the assignment of an inspection ordered by hand; the override it needs, or None.

    Every rule it breaks must be named by the override, and the override names no other.
    """
    check_assignable(target_id, inspector_ids, registered)
    broken = broken_assignment_rules(target_id, inspector_ids, previous_inspectors)
    given = override.rules if override else frozenset()
    missing = {rule: detail for rule, detail in broken.items() if rule not in given}
    if missing:
        raise AssignmentNeedsOverride(missing)
    if unneeded := sorted(given - broken.keys()):
        names = ", ".join(r.value for r in unneeded)
        raise InvalidOverride(f"this assignment does not break {names}: nothing to override", "override.rules",
                              "override_not_needed")
    return override


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

    @property
    def verdict(self) -> Verdict:
        assert self.inspection.result is not None  # a recorded inspection has its result
        return self.inspection.result.verdict


@dataclass(frozen=True)
class Inspection:
    """One drawn (or ordered) inspection of a target by its assigned inspectors."""

    id: str
    kind: InspectionKind
    target_id: str
    target_kind: OrganisationKind
    inspector_ids: frozenset[str]
    result: InspectionResult | None = None
    # For a re-inspection: the failed spot check it follows up, and its failed certificates.
    spot_check_id: str | None = None
    certificates_to_verify: tuple[str, ...] = ()
    status: InspectionStatus = InspectionStatus.ASSIGNED
    # For an inspection ordered by hand: the assignment rules the regulator set aside, and why.
    override: AssignmentOverride | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", InspectionKind(self.kind))
        object.__setattr__(self, "target_kind", OrganisationKind(self.target_kind))
        object.__setattr__(self, "inspector_ids", frozenset(self.inspector_ids))
        object.__setattr__(self, "status", InspectionStatus(self.status))
        if not self.inspector_ids:
            raise InvalidInspection(f"inspection {self.id} has no assigned inspector", "inspector_ids")
        self._check_kind_fits_target()
        if (self.result is not None) != (self.status is InspectionStatus.COMPLETED):
            raise InvalidInspection(f"inspection {self.id} is {self.status}: completed exactly when it has a result")

    def _check_kind_fits_target(self) -> None:
        enterprise = self.target_kind == OrganisationKind.ENTERPRISE
        if self.kind == InspectionKind.ORGANISATION_INSPECTION and enterprise:
            raise InvalidInspection("an organisation inspection targets a certification body or a lab", "kind")
        if self.kind != InspectionKind.ORGANISATION_INSPECTION and not enterprise:
            raise InvalidInspection(f"a {self.kind} targets a certified enterprise", "kind")
        if self.kind == InspectionKind.RE_INSPECTION and not (self.spot_check_id and self.certificates_to_verify):
            raise InvalidInspection(
                "a re-inspection follows up a failed spot check and its certificates", "spot_check_id"
            )

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def of_drawn_target(cls, id: str, target: DrawnTarget) -> Inspection:
        """The inspection a campaign opens for a target it drew, assigned to the drawn inspectors."""
        return cls(
            id=id, kind=INSPECTION_FOR[target.kind], target_id=target.target_id, target_kind=target.kind,
            inspector_ids=frozenset(target.inspector_ids),
        )

    @classmethod
    def re_inspection_of(
        cls,
        spot_check: Inspection,
        id: str,
        inspector_ids: Iterable[str],
        target_id: str | None = None,
        override: AssignmentOverride | None = None,
    ) -> Inspection:
        """Open the re-inspection that will verify rectification of a failed product spot check.

        `target_id`, when the order names one, must be the spot check's enterprise.
        """
        if target_id is not None and target_id != spot_check.target_id:
            raise ReInspectionOfAnotherTarget()
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
            override=override,
        )

    # --- recording the result ----------------------------------------------------------

    def record(
        self,
        inspector_id: str,
        verdict: Verdict | str | None,
        findings: str,
        samples: Iterable[SampleResult],
        at: dt.datetime,
    ) -> Recorded:
        """Record the result as an assigned inspector submits it.

        A product spot check is recorded with its samples, and a verdict given with them must
        be the one they give; any other inspection with a verdict and no samples.
        """
        if inspector_id not in self.inspector_ids:
            # Checked before anything else so an unassigned inspector learns nothing of the inspection.
            raise NotAssignedInspector(inspector_id, self.id)
        samples = tuple(samples)
        if self.kind is InspectionKind.PRODUCT_SPOT_CHECK:
            recorded = self.record_spot_check(inspector_id, samples, findings, at)
            from_samples = recorded.verdict
            if verdict and verdict != from_samples:
                raise VerdictContradictsSamples(verdict, from_samples)
            return recorded
        if not verdict:
            raise VerdictRequired()
        if samples:
            raise SamplesOnlyOnSpotChecks()
        return self.record_result(inspector_id, Verdict(verdict), findings, at)

    def record_result(self, inspector_id: str, verdict: Verdict, findings: str, at: dt.datetime) -> Recorded:
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
        completed = self._completed(InspectionResult(inspector_id, verdict, findings, at))
        if verdict == Verdict.PASS:
            return Recorded(completed, self._passed_consequences(), None)
        if self.kind == InspectionKind.RE_INSPECTION:
            # The certificates stay suspended; their suspension deadline takes its course.
            return Recorded(completed, (), Failure(FailureKind.SPOT_CHECK_FAILED, self.id, at))
        failed = InspectionFailed(self.id, self.target_id, self.target_kind, findings)
        return Recorded(completed, (failed,), Failure(FailureKind.INSPECTION_FAILED, self.id, at))

    def _passed_consequences(self) -> tuple[Consequence, ...]:
        if self.kind != InspectionKind.RE_INSPECTION:
            return ()
        assert self.spot_check_id is not None  # guaranteed by __post_init__
        return (RectificationVerified(self.id, self.spot_check_id, self.target_id, self.certificates_to_verify),)

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
        completed = self._completed(InspectionResult(inspector_id, verdict, findings, at, samples))
        if not failed:
            return Recorded(completed, (), None)
        spot_check_failed = SpotCheckFailed(self.id, self.target_id, failed, findings)
        return Recorded(completed, (spot_check_failed,), Failure(FailureKind.SPOT_CHECK_FAILED, self.id, at))

    def _check_can_record(self, inspector_id: str) -> None:
        if inspector_id not in self.inspector_ids:
            raise NotAssignedInspector(inspector_id, self.id)
        allowed_from, _ = INSPECTION_TRANSITIONS[InspectionAction.RECORD]
        if self.status not in allowed_from:
            raise ResultAlreadyRecorded(self.id)

    def _completed(self, result: InspectionResult) -> Inspection:
        _, to = INSPECTION_TRANSITIONS[InspectionAction.RECORD]
        return replace(self, result=result, status=to)
