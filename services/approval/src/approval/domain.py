"""Approval rules: the field catalogue, the conditions an applicant must meet, the two
application paths, the approval lifecycle and post-approval verification.

Pure Python, no I/O. The service layer loads these objects, calls one method, saves
the result with its history entry and turns it into the shared events.

- Notification-commitment path (告知承诺): the applicant signs that it meets every
  condition; if the application is complete and the declared facts meet the rules, the
  approval is granted on the spot and a post-approval verification is scheduled. A
  verification that finds the commitment untrue revokes the approval.
- Standard path: submitted, accepted (the application is complete), then granted, in
  whole or for some of the requested fields, or rejected with reasons, within 20
  working days of acceptance.
- An approval is active, suspended (whole, or in some fields while the rest stays
  active) or revoked; it can be reinstated and reduced in scope. Every change appends a
  history entry; an illegal change raises ``IllegalTransition`` (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from conformity_shared import uscc
from conformity_shared.errors import Conflict, DomainError

from approval.calendar import WorkingCalendar, deadline_passed


class Kind(StrEnum):
    CERTIFICATION_BODY = "certification_body"
    TESTING_LAB = "testing_lab"


class Risk(StrEnum):
    HIGH = "high"
    LOW = "low"


class Path(StrEnum):
    COMMITMENT = "commitment"
    STANDARD = "standard"


# ==================================================================================
# Errors
# ==================================================================================


class ApplicationRefused(DomainError):
    """The rules refuse an application; ``failures`` lists every failed rule (HTTP 422)."""

    def __init__(self, failures: Iterable[RuleFailure], summary: str = "application refused") -> None:
        self.failures = list(failures)
        codes = ", ".join(f.code for f in self.failures)
        super().__init__(
            f"{summary}: {len(self.failures)} rule(s) failed: {codes}",
            self.failures[0].field if len(self.failures) == 1 else None,
            [f.as_dict() for f in self.failures],
        )


class DecisionRefused(ApplicationRefused):
    """A regulator's grant that the rules do not allow (e.g. a field below the staff minimum)."""

    def __init__(self, failures: Iterable[RuleFailure]) -> None:
        super().__init__(failures, "decision refused")


class IllegalTransition(Conflict):
    """A change the lifecycle does not allow, e.g. reinstating a revoked approval (HTTP 409)."""

    def __init__(self, what: str, action: str, current: str, rule: str) -> None:
        super().__init__(f"cannot {action} {what}: {rule} (it is {current})", field="status")
        self.action = action
        self.current = current
        self.rule = rule


class InvalidConfiguration(DomainError):
    """A catalogue or rule set that cannot be used."""

    def __init__(self, message: str, field: str = "configuration") -> None:
        super().__init__(message, field)


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise DomainError("every transition needs a reason (it is kept in the history)", "reason")
    return reason.strip()


# ==================================================================================
# The field catalogue
# ==================================================================================


@dataclass(frozen=True)
class ScopeField:
    """One certification field (for certification bodies) or test field (for labs)."""

    code: str
    name: str
    risk: Risk
    kind: Kind

    def __post_init__(self) -> None:
        object.__setattr__(self, "risk", Risk(self.risk))
        object.__setattr__(self, "kind", Kind(self.kind))
        if not self.code.strip():
            raise InvalidConfiguration("a catalogue field needs a code", "catalogue")


_CB, _LAB, _H, _L = Kind.CERTIFICATION_BODY, Kind.TESTING_LAB, Risk.HIGH, Risk.LOW

# The default catalogue. CCC codes follow the category numbers of the CNCA compulsory
# product catalogue; the other codes are the platform's own. Risk is the regulator's
# judgement of who may use the commitment path: fields where a false declaration
# endangers life or health (electrical fire, vehicles, children, gas, explosion, food,
# medical devices) are high risk; management systems and the rest are low.
DEFAULT_FIELDS: tuple[ScopeField, ...] = (
    ScopeField("CCC-01", "Electrical wires and cables", _H, _CB),
    ScopeField("CCC-02", "Switches and devices for protection or connection", _H, _CB),
    ScopeField("CCC-03", "Low-voltage electrical apparatus", _H, _CB),
    ScopeField("CCC-04", "Small-power motors", _L, _CB),
    ScopeField("CCC-05", "Electric tools", _H, _CB),
    ScopeField("CCC-06", "Electric welding machines", _H, _CB),
    ScopeField("CCC-07", "Household and similar electrical appliances", _H, _CB),
    ScopeField("CCC-08", "Audio, video and information technology equipment", _L, _CB),
    ScopeField("CCC-09", "Lighting apparatus", _L, _CB),
    ScopeField("CCC-10", "Telecommunication terminal equipment", _L, _CB),
    ScopeField("CCC-11", "Motor vehicles and safety parts", _H, _CB),
    ScopeField("CCC-12", "Motor vehicle tyres", _H, _CB),
    ScopeField("CCC-13", "Safety glass", _H, _CB),
    ScopeField("CCC-19", "Decoration and renovation materials", _L, _CB),
    ScopeField("CCC-20", "Children's products (toys, child restraint systems)", _H, _CB),
    ScopeField("CCC-21", "Explosion-proof electrical equipment", _H, _CB),
    ScopeField("CCC-22", "Domestic gas appliances", _H, _CB),
    ScopeField("MS-QMS", "Quality management systems (GB/T 19001)", _L, _CB),
    ScopeField("MS-EMS", "Environmental management systems (GB/T 24001)", _L, _CB),
    ScopeField("MS-OHSMS", "Occupational health and safety management systems (GB/T 45001)", _L, _CB),
    ScopeField("MS-ISMS", "Information security management systems (GB/T 22080)", _L, _CB),
    ScopeField("MS-FSMS", "Food safety management systems and HACCP", _H, _CB),
    ScopeField("VP-GEN", "Voluntary product certification", _L, _CB),
    ScopeField("VP-ORG", "Organic products", _H, _CB),
    ScopeField("SV-ASS", "After-sales service certification", _L, _CB),
    ScopeField("TL-FOOD", "Food testing", _H, _LAB),
    ScopeField("TL-MED", "Medical device testing", _H, _LAB),
    ScopeField("TL-ELEC", "Electrical safety testing", _L, _LAB),
    ScopeField("TL-EMC", "Electromagnetic compatibility testing", _L, _LAB),
    ScopeField("TL-CHEM", "Chemical analysis of consumer products", _L, _LAB),
    ScopeField("TL-TOY", "Toy safety testing", _H, _LAB),
    ScopeField("TL-ENV", "Environmental monitoring", _L, _LAB),
)


class Catalogue:
    """The fields an applicant may request, by code. Data: build another to override."""

    def __init__(self, fields: Iterable[ScopeField]) -> None:
        by_code: dict[str, ScopeField] = {}
        for f in fields:
            if f.code in by_code:
                raise InvalidConfiguration(f"the catalogue lists field {f.code} twice", "catalogue")
            by_code[f.code] = f
        self._fields: Mapping[str, ScopeField] = MappingProxyType(by_code)

    @classmethod
    def default(cls) -> Catalogue:
        return cls(DEFAULT_FIELDS)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Catalogue:
        """From settings: ``[{"code": ..., "name": ..., "risk": "high", "kind": "testing_lab"}]``."""
        try:
            return cls(ScopeField(r["code"], r["name"], Risk(r["risk"]), Kind(r["kind"])) for r in records)
        except (KeyError, ValueError) as exc:
            raise InvalidConfiguration(f"invalid catalogue record: {exc}", "catalogue") from None

    def replacing(self, *fields: ScopeField) -> Catalogue:
        """A copy where the given fields replace (or add to) those with the same code."""
        merged = dict(self._fields)
        merged.update({f.code: f for f in fields})
        return Catalogue(merged.values())

    def get(self, code: str) -> ScopeField | None:
        return self._fields.get(code)

    def __getitem__(self, code: str) -> ScopeField:
        return self._fields[code]

    def __contains__(self, code: object) -> bool:
        return code in self._fields

    def __iter__(self) -> Iterator[ScopeField]:
        return iter(self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def for_kind(self, kind: Kind) -> list[ScopeField]:
        return [f for f in self if f.kind == kind]

    def high_risk(self) -> list[ScopeField]:
        return [f for f in self if f.risk is Risk.HIGH]


# ==================================================================================
# Rules and the application check
# ==================================================================================


@dataclass(frozen=True)
class Rules:
    """The conditions, configurable; the defaults are the design's."""

    min_staff_per_field: int = 10  # full-time qualified staff a certification body needs per field
    min_registered_capital_rmb: int = 3_000_000  # a certification body's registered capital
    # The design fixes no number for labs; our default asks for one qualified person per field.
    lab_min_staff_per_field: int = 1
    high_risk_refuses_commitment: bool = True
    standard_decision_working_days: int = 20
    verification_days: int = 90  # calendar days from grant to the post-approval verification

    def __post_init__(self) -> None:
        for name in ("min_staff_per_field", "min_registered_capital_rmb", "lab_min_staff_per_field"):
            if getattr(self, name) < 0:
                raise InvalidConfiguration(f"{name} must not be negative", name)
        for name in ("standard_decision_working_days", "verification_days"):
            if getattr(self, name) < 1:
                raise InvalidConfiguration(f"{name} must be at least 1", name)


class Rule(StrEnum):
    """The code of each rule an application can fail."""

    ORGANISATION_USCC_INVALID = "organisation_uscc_invalid"
    ORGANISATION_NAME_MISSING = "organisation_name_missing"
    FIELDS_MISSING = "fields_missing"
    FIELD_UNKNOWN = "field_unknown"
    FIELD_KIND_MISMATCH = "field_kind_mismatch"
    FIELD_NOT_REQUESTED = "field_not_requested"
    COMMITMENT_HIGH_RISK = "commitment_refused_for_high_risk_field"
    COMMITMENT_TEXT_MISSING = "commitment_text_missing"
    PREMISES_MISSING = "premises_missing"
    MANAGEMENT_SYSTEM_MISSING = "management_system_missing"
    STAFF_MISSING = "staff_missing"
    STAFF_BELOW_MINIMUM = "staff_below_minimum"
    REGISTERED_CAPITAL_MISSING = "registered_capital_missing"
    REGISTERED_CAPITAL_BELOW_MINIMUM = "registered_capital_below_minimum"


# What acceptance on the standard path checks: the application is complete and well-formed;
# whether the facts meet the thresholds is the review's question.
COMPLETENESS_RULES: frozenset[Rule] = frozenset(
    {
        Rule.ORGANISATION_USCC_INVALID,
        Rule.ORGANISATION_NAME_MISSING,
        Rule.FIELDS_MISSING,
        Rule.FIELD_UNKNOWN,
        Rule.FIELD_KIND_MISMATCH,
        Rule.FIELD_NOT_REQUESTED,
        Rule.COMMITMENT_TEXT_MISSING,
        Rule.PREMISES_MISSING,
        Rule.MANAGEMENT_SYSTEM_MISSING,
        Rule.STAFF_MISSING,
        Rule.REGISTERED_CAPITAL_MISSING,
    }
)


@dataclass(frozen=True)
class RuleFailure:
    """One failed rule: its code, the path of the offending input, and why."""

    code: Rule
    field: str  # e.g. "declared.staff_per_field.CCC-07"
    message: str

    @property
    def is_completeness(self) -> bool:
        return self.code in COMPLETENESS_RULES

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.code.value, "field": self.field, "detail": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> RuleFailure:
        return cls(Rule(data["rule"]), data["field"], data["detail"])


@dataclass(frozen=True)
class Declared:
    """The facts the applicant declares (and, on the commitment path, signs for)."""

    staff_per_field: Mapping[str, int] = field(default_factory=dict)  # full-time qualified staff
    registered_capital_rmb: int | None = None
    premises: str | None = None
    management_system: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "staff_per_field", MappingProxyType(dict(self.staff_per_field)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Declared:
        return cls(
            staff_per_field=dict(data.get("staff_per_field") or {}),
            registered_capital_rmb=data.get("registered_capital_rmb"),
            premises=data.get("premises"),
            management_system=data.get("management_system"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "staff_per_field": dict(self.staff_per_field),
            "registered_capital_rmb": self.registered_capital_rmb,
            "premises": self.premises,
            "management_system": self.management_system,
        }


def _blank(text: str | None) -> bool:
    return text is None or not str(text).strip()


def _check(
    application: Application,
    catalogue: Catalogue,
    rules: Rules,
    fields: Collection[str],
    *,
    commitment: bool,
) -> list[RuleFailure]:
    failures: list[RuleFailure] = []

    def fail(code: Rule, path: str, message: str) -> None:
        failures.append(RuleFailure(code, path, message))

    try:
        uscc.validate(application.organisation_uscc)
    except uscc.InvalidUSCC as exc:
        fail(Rule.ORGANISATION_USCC_INVALID, "organisation_uscc", f"the Unified Social Credit Code {exc}")
    if _blank(application.organisation_name):
        fail(Rule.ORGANISATION_NAME_MISSING, "organisation_name", "the organisation's name is required")

    is_body = application.kind is Kind.CERTIFICATION_BODY
    if not fields:
        fail(Rule.FIELDS_MISSING, "requested_fields", "at least one field must be requested")
    for code in fields:
        path = f"requested_fields.{code}"
        if code not in application.requested_fields:
            fail(Rule.FIELD_NOT_REQUESTED, path, f"{code} was not requested in this application")
            continue
        known = catalogue.get(code)
        if known is None:
            fail(Rule.FIELD_UNKNOWN, path, f"{code} is not in the field catalogue")
            continue
        if known.kind is not application.kind:
            fail(Rule.FIELD_KIND_MISMATCH, path,
                 f"{code} ({known.name}) is a field for a {known.kind.value}, not a {application.kind.value}")
        if commitment and rules.high_risk_refuses_commitment and known.risk is Risk.HIGH:
            fail(Rule.COMMITMENT_HIGH_RISK, path,
                 f"{code} ({known.name}) is high risk: it cannot use the commitment path, apply on the standard path")

    if commitment and _blank(application.commitment_text):
        fail(Rule.COMMITMENT_TEXT_MISSING, "commitment_text",
             "the commitment path needs the commitment text signed by the applicant")

    declared = application.declared
    if _blank(declared.premises):
        fail(Rule.PREMISES_MISSING, "declared.premises", "the premises must be declared")
    if _blank(declared.management_system):
        fail(Rule.MANAGEMENT_SYSTEM_MISSING, "declared.management_system", "the management system must be declared")

    minimum = rules.min_staff_per_field if is_body else rules.lab_min_staff_per_field
    for code in fields:
        path = f"declared.staff_per_field.{code}"
        staff = declared.staff_per_field.get(code)
        if staff is None:
            fail(Rule.STAFF_MISSING, path, f"the full-time qualified staff for {code} must be declared")
        elif staff < minimum:
            fail(Rule.STAFF_BELOW_MINIMUM, path,
                 f"{code} needs at least {minimum} full-time qualified staff, {staff} declared")

    if is_body:
        capital = declared.registered_capital_rmb
        path = "declared.registered_capital_rmb"
        if capital is None:
            fail(Rule.REGISTERED_CAPITAL_MISSING, path, "a certification body must declare its registered capital")
        elif capital < rules.min_registered_capital_rmb:
            fail(Rule.REGISTERED_CAPITAL_BELOW_MINIMUM, path,
                 f"a certification body needs registered capital of at least RMB {rules.min_registered_capital_rmb:,}, "
                 f"RMB {capital:,} declared")
    return failures


def check_application(application: Application, catalogue: Catalogue, rules: Rules) -> list[RuleFailure]:
    """Every rule the application fails (empty when it may be granted), in a stable order.

    Completeness (organisation, fields in the catalogue and fitting the applicant's kind,
    premises, management system, staff per field, and on the commitment path the signed
    commitment) and the thresholds: no high-risk field on the commitment path; for a
    certification body at least ``min_staff_per_field`` full-time qualified staff per
    field and registered capital of at least ``min_registered_capital_rmb``.
    """
    return _check(
        application, catalogue, rules, application.requested_fields,
        commitment=application.path is Path.COMMITMENT,
    )


# ==================================================================================
# The approval and its lifecycle
# ==================================================================================


class ApprovalStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class ApprovalAction(StrEnum):
    GRANTED = "granted"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    SCOPE_REDUCED = "scope_reduced"
    REVOKED = "revoked"


@dataclass(frozen=True)
class HistoryEntry:
    """One change of an approval. ``fields`` is empty for a change of the whole approval."""

    action: ApprovalAction
    from_status: ApprovalStatus | None
    to_status: ApprovalStatus
    fields: tuple[str, ...]
    reason: str
    actor: str | None
    cause_event_id: str | None
    at: dt.datetime


@dataclass
class Approval:
    """The qualification of one organisation in a set of fields.

    ``history`` holds the entries added since the aggregate was loaded (the service
    writes and clears them).
    """

    id: str
    organisation_uscc: str
    organisation_name: str
    kind: Kind
    path: Path
    fields: frozenset[str]
    application_id: str
    granted_at: dt.datetime
    status: ApprovalStatus = ApprovalStatus.ACTIVE
    suspended_fields: frozenset[str] = frozenset()
    history: list[HistoryEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)
        self.path = Path(self.path)
        self.status = ApprovalStatus(self.status)
        self.fields = frozenset(self.fields)
        self.suspended_fields = frozenset(self.suspended_fields)

    @classmethod
    def grant(
        cls,
        *,
        id: str,  # noqa: A002 - the aggregate's id
        application: Application,
        fields: Iterable[str],
        at: dt.datetime,
        reason: str,
        actor: str | None = None,
    ) -> Approval:
        approval = cls(
            id=id, organisation_uscc=application.organisation_uscc, organisation_name=application.organisation_name,
            kind=application.kind, path=application.path, fields=frozenset(fields), application_id=application.id,
            granted_at=at,
        )
        approval._record(ApprovalAction.GRANTED, ApprovalStatus.ACTIVE, tuple(sorted(approval.fields)), reason, actor, None, at)
        return approval

    # --- what the service layer asks -------------------------------------------------

    def approved_fields(self) -> frozenset[str]:
        """The fields the organisation may work in now: active and not suspended."""
        if self.status is not ApprovalStatus.ACTIVE:
            return frozenset()
        return self.fields - self.suspended_fields

    def is_approved_for(self, code: str) -> bool:
        return code in self.approved_fields()

    # --- transitions -----------------------------------------------------------------

    def suspend(
        self,
        reason: str,
        *,
        at: dt.datetime,
        fields: Iterable[str] | None = None,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Suspend the whole approval, or only ``fields`` (the rest stays as it is)."""
        reason = _require_reason(reason)
        self._refuse_if_revoked("suspend")
        if fields:
            codes = self._in_scope(fields, "suspend")
            already = sorted(codes & self.suspended_fields)
            if already:
                raise self._illegal("suspend", f"field(s) {', '.join(already)} are already suspended")
            self.suspended_fields = self.suspended_fields | codes
            return self._record(ApprovalAction.SUSPENDED, self.status, tuple(sorted(codes)), reason, actor,
                                cause_event_id, at)
        if self.status is ApprovalStatus.SUSPENDED:
            raise self._illegal("suspend", "the approval is already suspended")
        return self._record(ApprovalAction.SUSPENDED, ApprovalStatus.SUSPENDED, (), reason, actor, cause_event_id, at)

    def reinstate(
        self,
        reason: str,
        *,
        at: dt.datetime,
        fields: Iterable[str] | None = None,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Lift a whole suspension, or the suspension of ``fields``.

        Lifting the whole suspension leaves field suspensions in place: they have their own
        causes (e.g. proficiency failures) and are lifted one by one.
        """
        reason = _require_reason(reason)
        self._refuse_if_revoked("reinstate")
        if fields:
            codes = self._in_scope(fields, "reinstate")
            not_suspended = sorted(codes - self.suspended_fields)
            if not_suspended:
                raise self._illegal("reinstate", f"field(s) {', '.join(not_suspended)} are not suspended")
            self.suspended_fields = self.suspended_fields - codes
            return self._record(ApprovalAction.REINSTATED, self.status, tuple(sorted(codes)), reason, actor,
                                cause_event_id, at)
        if self.status is not ApprovalStatus.SUSPENDED:
            raise self._illegal("reinstate", "only a suspended approval can be reinstated")
        return self._record(ApprovalAction.REINSTATED, ApprovalStatus.ACTIVE, (), reason, actor, cause_event_id, at)

    def reduce_scope(
        self,
        fields: Iterable[str],
        reason: str,
        *,
        at: dt.datetime,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Remove ``fields`` from the approval; removing every field is a revocation instead."""
        reason = _require_reason(reason)
        self._refuse_if_revoked("reduce the scope of")
        codes = self._in_scope(fields, "reduce the scope of")
        if not codes:
            raise DomainError("a scope reduction names at least one field", "fields")
        if codes == self.fields:
            raise self._illegal("reduce the scope of", "removing every field is a revocation, not a scope reduction")
        self.fields = self.fields - codes
        self.suspended_fields = self.suspended_fields - codes
        return self._record(ApprovalAction.SCOPE_REDUCED, self.status, tuple(sorted(codes)), reason, actor,
                            cause_event_id, at)

    def revoke(
        self,
        reason: str,
        *,
        at: dt.datetime,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Revoke the approval; nothing follows a revocation."""
        reason = _require_reason(reason)
        self._refuse_if_revoked("revoke")
        return self._record(ApprovalAction.REVOKED, ApprovalStatus.REVOKED, (), reason, actor, cause_event_id, at)

    # --- internals -------------------------------------------------------------------

    def _illegal(self, action: str, rule: str) -> IllegalTransition:
        return IllegalTransition(f"approval {self.id}", action, self.status.value, rule)

    def _refuse_if_revoked(self, action: str) -> None:
        if self.status is ApprovalStatus.REVOKED:
            raise self._illegal(action, "a revoked approval is final")

    def _in_scope(self, fields: Iterable[str], action: str) -> frozenset[str]:
        codes = frozenset(fields)
        outside = sorted(codes - self.fields)
        if outside:
            raise self._illegal(action, f"field(s) {', '.join(outside)} are not in the approval's scope")
        return codes

    def _record(
        self,
        action: ApprovalAction,
        to_status: ApprovalStatus,
        fields: tuple[str, ...],
        reason: str,
        actor: str | None,
        cause_event_id: str | None,
        at: dt.datetime,
    ) -> HistoryEntry:
        entry = HistoryEntry(
            action=action, from_status=None if action is ApprovalAction.GRANTED else self.status, to_status=to_status,
            fields=fields, reason=reason, actor=actor, cause_event_id=cause_event_id, at=at,
        )
        self.status = to_status
        self.history.append(entry)
        return entry


# ==================================================================================
# Post-approval verification (commitment path)
# ==================================================================================


class VerificationStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    BREACHED = "breached"


@dataclass
class Verification:
    """The check, after a commitment-path grant, that the signed commitment was true."""

    id: str
    approval_id: str
    organisation_uscc: str
    due: dt.date
    status: VerificationStatus = VerificationStatus.SCHEDULED
    inspector_id: str | None = None
    findings: str | None = None
    recorded_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        self.status = VerificationStatus(self.status)

    @classmethod
    def schedule(cls, *, id: str, approval: Approval, at: dt.datetime, rules: Rules) -> Verification:  # noqa: A002
        if approval.path is not Path.COMMITMENT:
            raise IllegalTransition(f"approval {approval.id}", "schedule a verification of", approval.path.value,
                                    "only commitment-path approvals are verified after the grant")
        return cls(id=id, approval_id=approval.id, organisation_uscc=approval.organisation_uscc,
                   due=at.date() + dt.timedelta(days=rules.verification_days))

    def is_overdue(self, today: dt.date) -> bool:
        return self.status is VerificationStatus.SCHEDULED and deadline_passed(self.due, today)

    def confirm(self, *, inspector_id: str, findings: str | None, at: dt.datetime) -> None:
        """The inspector found the declared facts true."""
        self._record(VerificationStatus.CONFIRMED, inspector_id, findings, at, "confirm")

    def record_breach(
        self,
        approval: Approval,
        *,
        inspector_id: str,
        findings: str,
        at: dt.datetime,
        cause_event_id: str | None = None,
    ) -> HistoryEntry | None:
        """The commitment was untrue: the approval is revoked (unless it already is).

        Returns the approval's revocation entry, or None when it was already revoked; the
        breach itself (and the credit sanction it brings) is recorded either way.
        """
        if approval.id != self.approval_id:
            raise DomainError(f"verification {self.id} is of approval {self.approval_id}, not {approval.id}",
                              "approval_id")
        if _blank(findings):
            raise DomainError("a breached commitment needs the findings", "findings")
        self._record(VerificationStatus.BREACHED, inspector_id, findings, at, "record a breach for")
        if approval.status is ApprovalStatus.REVOKED:
            return None
        return approval.revoke(f"commitment breached: {findings}", at=at, actor=inspector_id,
                               cause_event_id=cause_event_id)

    def _record(self, status: VerificationStatus, inspector_id: str, findings: str | None, at: dt.datetime,
                action: str) -> None:
        if self.status is not VerificationStatus.SCHEDULED:
            raise IllegalTransition(f"verification {self.id}", action, self.status.value,
                                    "a verification is recorded once")
        self.status = status
        self.inspector_id = inspector_id
        self.findings = findings
        self.recorded_at = at


# ==================================================================================
# The application and its two paths
# ==================================================================================


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"  # standard path: complete, under review, decision due
    GRANTED = "granted"
    REJECTED = "rejected"  # standard path: decided against, with reasons
    REFUSED = "refused"  # failed the rules: not granted on the spot, or not accepted


@dataclass
class Application:
    id: str
    organisation_uscc: str
    organisation_name: str
    kind: Kind
    path: Path
    requested_fields: tuple[str, ...]
    declared: Declared
    commitment_text: str | None
    submitted_at: dt.datetime
    status: ApplicationStatus = ApplicationStatus.SUBMITTED
    failed_rules: list[RuleFailure] = field(default_factory=list)
    accepted_on: dt.date | None = None
    decision_due: dt.date | None = None
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decision_reasons: list[str] = field(default_factory=list)
    approval_id: str | None = None

    def __post_init__(self) -> None:
        self.kind = _parse(Kind, self.kind, "kind")
        self.path = _parse(Path, self.path, "path")
        self.status = ApplicationStatus(self.status)
        self.requested_fields = tuple(dict.fromkeys(self.requested_fields))  # duplicates collapse, order kept
        if isinstance(self.declared, Mapping):
            self.declared = Declared.from_mapping(self.declared)
        self.failed_rules = [RuleFailure.from_dict(f) if isinstance(f, Mapping) else f for f in self.failed_rules]

    @classmethod
    def submit(
        cls,
        *,
        id: str,  # noqa: A002
        organisation_uscc: str,
        organisation_name: str,
        kind: Kind | str,
        path: Path | str,
        requested_fields: Iterable[str],
        declared: Declared | Mapping[str, Any],
        commitment_text: str | None = None,
        at: dt.datetime,
    ) -> Application:
        return cls(
            id=id, organisation_uscc=organisation_uscc, organisation_name=organisation_name, kind=kind, path=path,
            requested_fields=tuple(requested_fields), declared=declared, commitment_text=commitment_text,
            submitted_at=at,
        )

    # --- commitment path --------------------------------------------------------------

    def grant_on_the_spot(
        self,
        catalogue: Catalogue,
        rules: Rules,
        *,
        approval_id: str,
        verification_id: str,
        at: dt.datetime,
    ) -> tuple[Approval, Verification]:
        """Grant in the same request when the commitment-path application passes every rule.

        On failure the application is marked refused with every failed rule and
        ``ApplicationRefused`` is raised: a service that keeps refused applications saves it
        before re-raising, one that does not lets the transaction roll back.
        """
        self._expect(Path.COMMITMENT, ApplicationStatus.SUBMITTED, "grant on the spot")
        failures = check_application(self, catalogue, rules)
        if failures:
            self._refuse(failures, at)
            raise ApplicationRefused(failures)
        approval = Approval.grant(id=approval_id, application=self, fields=self.requested_fields, at=at,
                                  reason="granted on the spot on the applicant's signed commitment")
        self._decide(ApplicationStatus.GRANTED, at, None, [])
        self.approval_id = approval.id
        return approval, Verification.schedule(id=verification_id, approval=approval, at=at, rules=rules)

    # --- standard path ----------------------------------------------------------------

    def accept(
        self,
        catalogue: Catalogue,
        rules: Rules,
        *,
        on: dt.date,
        calendar: WorkingCalendar,
    ) -> dt.date:
        """Accept a complete standard-path application; returns the decision deadline.

        The decision is due ``standard_decision_working_days`` working days after the day of
        acceptance (which does not count). An incomplete application is refused (not
        accepted) with every missing item. Threshold failures do not stop acceptance; they
        are kept in ``failed_rules`` for the reviewer.
        """
        self._expect(Path.STANDARD, ApplicationStatus.SUBMITTED, "accept")
        failures = check_application(self, catalogue, rules)
        incomplete = [f for f in failures if f.is_completeness]
        if incomplete:
            self._refuse(incomplete, dt.datetime.combine(on, dt.time(), dt.UTC))
            raise ApplicationRefused(incomplete, "application not accepted, it is incomplete")
        self.status = ApplicationStatus.ACCEPTED
        self.failed_rules = failures
        self.accepted_on = on
        self.decision_due = calendar.add_working_days(on, rules.standard_decision_working_days)
        return self.decision_due

    def grant(
        self,
        fields: Iterable[str],
        catalogue: Catalogue,
        rules: Rules,
        *,
        approval_id: str,
        at: dt.datetime,
        actor: str,
        reasons: Iterable[str] = (),
    ) -> Approval:
        """A regulator grants the accepted application in all or some of the requested fields.

        The granted fields must meet the rules; granting fewer fields than requested needs
        reasons for the others.
        """
        self._expect(Path.STANDARD, ApplicationStatus.ACCEPTED, "grant")
        codes = tuple(dict.fromkeys(fields))
        reasons = [r.strip() for r in reasons if r and r.strip()]
        failures = _check(self, catalogue, rules, codes, commitment=False)
        if failures:
            raise DecisionRefused(failures)
        if set(codes) != set(self.requested_fields) and not reasons:
            raise DomainError("granting only some of the requested fields needs reasons for the others", "reasons")
        reason = "granted by the regulator's decision" + (f": {'; '.join(reasons)}" if reasons else "")
        approval = Approval.grant(id=approval_id, application=self, fields=codes, at=at, actor=actor, reason=reason)
        self._decide(ApplicationStatus.GRANTED, at, actor, reasons)
        self.approval_id = approval.id
        return approval

    def reject(self, reasons: Iterable[str], *, at: dt.datetime, actor: str) -> None:
        """A regulator rejects the accepted application; a rejection states its reasons."""
        self._expect(Path.STANDARD, ApplicationStatus.ACCEPTED, "reject")
        reasons = [r.strip() for r in reasons if r and r.strip()]
        if not reasons:
            raise DomainError("a rejection needs at least one reason", "reasons")
        self._decide(ApplicationStatus.REJECTED, at, actor, reasons)

    def is_overdue(self, today: dt.date) -> bool:
        """Accepted, undecided, and past its decision deadline."""
        return (
            self.status is ApplicationStatus.ACCEPTED
            and self.decision_due is not None
            and deadline_passed(self.decision_due, today)
        )

    def working_days_left(self, today: dt.date, calendar: WorkingCalendar) -> int | None:
        """Working days from ``today`` (excluded) to the deadline; negative once overdue."""
        if self.decision_due is None:
            return None
        return calendar.working_days_between(today, self.decision_due)

    # --- internals ----------------------------------------------------------------------

    def _expect(self, path: Path, status: ApplicationStatus, action: str) -> None:
        if self.path is not path:
            raise IllegalTransition(f"application {self.id}", action, f"on the {self.path.value} path",
                                    f"this step belongs to the {path.value} path")
        if self.status is not status:
            raise IllegalTransition(f"application {self.id}", action, self.status.value,
                                    f"only a {status.value} application can be handled this way")

    def _refuse(self, failures: list[RuleFailure], at: dt.datetime) -> None:
        self.status = ApplicationStatus.REFUSED
        self.failed_rules = list(failures)
        self.decided_at = at

    def _decide(self, status: ApplicationStatus, at: dt.datetime, actor: str | None, reasons: list[str]) -> None:
        self.status = status
        self.decided_at = at
        self.decided_by = actor
        self.decision_reasons = reasons


def overdue_applications(applications: Iterable[Application], today: dt.date) -> list[Application]:
    """Accepted standard-path applications whose decision deadline has passed, oldest first."""
    late = [a for a in applications if a.is_overdue(today)]
    return sorted(late, key=lambda a: (a.decision_due, a.id))


def _parse(enum: type[StrEnum], value: object, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise DomainError(f"{name} must be one of {allowed}, is {value!r}", name) from None
