"""The approval and its lifecycle: active, suspended (whole, or in some fields while the
rest stays active) or revoked; reinstated; reduced in scope. Every change appends a
history entry; an illegal change raises ``IllegalTransition`` (HTTP 409)::

    active    --suspend-->   suspended
    suspended --reinstate--> active
    active, suspended --revoke--> revoked   (final)

Suspending or reinstating some fields, and reducing the scope, keep the status and apply
to any approval that is not revoked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import DomainError

from approval.domain.catalogue import Kind
from approval.domain.errors import IllegalTransition
from approval.domain.values import Path


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise DomainError("every transition needs a reason (it is kept in the history)", "reason")
    return reason.strip()


class ApprovalStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class ApprovalAction(StrEnum):
    """What happened to the approval, as its history (and its event) records it."""

    GRANTED = "granted"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    SCOPE_REDUCED = "scope_reduced"
    REVOKED = "revoked"


# A change of the whole approval: action -> (the statuses it applies to, the status it leads to).
TRANSITIONS: Mapping[ApprovalAction, tuple[frozenset[ApprovalStatus], ApprovalStatus]] = MappingProxyType(
    {
        ApprovalAction.SUSPENDED: (frozenset({ApprovalStatus.ACTIVE}), ApprovalStatus.SUSPENDED),
        ApprovalAction.REINSTATED: (frozenset({ApprovalStatus.SUSPENDED}), ApprovalStatus.ACTIVE),
        ApprovalAction.REVOKED: (frozenset({ApprovalStatus.ACTIVE, ApprovalStatus.SUSPENDED}), ApprovalStatus.REVOKED),
    }
)
# A change of some fields (suspend, reinstate, reduce the scope) keeps the status; a revoked approval is final.
FIELD_CHANGES_FROM: frozenset[ApprovalStatus] = frozenset({ApprovalStatus.ACTIVE, ApprovalStatus.SUSPENDED})

# Why a whole-approval change is refused in a status it does not apply to (other than revoked).
_REFUSED_BECAUSE: Mapping[ApprovalAction, str] = MappingProxyType(
    {
        ApprovalAction.SUSPENDED: "the approval is already suspended",
        ApprovalAction.REINSTATED: "only a suspended approval can be reinstated",
    }
)

# Who acts in the history when another service's event causes the change.
SUPERVISION = "supervision"
PROFICIENCY = "proficiency"


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
        organisation_uscc: str,
        organisation_name: str,
        kind: Kind,
        path: Path,
        application_id: str,
        fields: Iterable[str],
        at: dt.datetime,
        reason: str,
        actor: str | None = None,
    ) -> Approval:
        """A new, active approval in ``fields`` (granted on an application, see ``Application``)."""
        approval = cls(
            id=id, organisation_uscc=organisation_uscc, organisation_name=organisation_name, kind=kind, path=path,
            fields=frozenset(fields), application_id=application_id, granted_at=at,
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
        if fields:
            self._expect_field_change("suspend")
            codes = self._in_scope(fields, "suspend")
            already = sorted(codes & self.suspended_fields)
            if already:
                raise self._illegal("suspend", f"field(s) {', '.join(already)} are already suspended")
            self.suspended_fields = self.suspended_fields | codes
            return self._record(ApprovalAction.SUSPENDED, self.status, tuple(sorted(codes)), reason, actor,
                                cause_event_id, at)
        return self._move(ApprovalAction.SUSPENDED, "suspend", reason, actor, cause_event_id, at)

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
        if fields:
            self._expect_field_change("reinstate")
            codes = self._in_scope(fields, "reinstate")
            not_suspended = sorted(codes - self.suspended_fields)
            if not_suspended:
                raise self._illegal("reinstate", f"field(s) {', '.join(not_suspended)} are not suspended")
            self.suspended_fields = self.suspended_fields - codes
            return self._record(ApprovalAction.REINSTATED, self.status, tuple(sorted(codes)), reason, actor,
                                cause_event_id, at)
        return self._move(ApprovalAction.REINSTATED, "reinstate", reason, actor, cause_event_id, at)

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
        self._expect_field_change("reduce the scope of")
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
        return self._move(ApprovalAction.REVOKED, "revoke", reason, actor, cause_event_id, at)

    # --- what other services' events cause --------------------------------------------

    def suspend_for_failed_inspection(
        self, inspection_id: str, findings: str, *, at: dt.datetime, cause_event_id: str | None
    ) -> HistoryEntry | None:
        """A failed inspection of the body or lab suspends the whole approval; one that is
        already suspended (or revoked) stays as it is."""
        if self.status is not ApprovalStatus.ACTIVE:
            return None
        return self.suspend(f"inspection {inspection_id} failed: {findings}", at=at, actor=SUPERVISION,
                            cause_event_id=cause_event_id)

    def suspend_field_for_proficiency(
        self, code: str, reason: str, *, at: dt.datetime, cause_event_id: str | None
    ) -> HistoryEntry | None:
        """DESIGN flow 4: a lab's repeated proficiency failures in a field suspend that field,
        the rest stays; a field outside the approval, or already suspended, stays as it is."""
        if self.status is ApprovalStatus.REVOKED or code not in self.fields or code in self.suspended_fields:
            return None
        return self.suspend(f"proficiency: {reason}", at=at, fields=[code], actor=PROFICIENCY,
                            cause_event_id=cause_event_id)

    # --- internals -------------------------------------------------------------------

    def _illegal(self, action: str, rule: str) -> IllegalTransition:
        return IllegalTransition(f"approval {self.id}", action, self.status.value, rule)

    def _expect(self, action: ApprovalAction, verb: str) -> ApprovalStatus:
        """The status ``action`` leads to, or ``IllegalTransition`` naming the rule."""
        allowed_from, to = TRANSITIONS[action]
        if self.status in allowed_from:
            return to
        if self.status is ApprovalStatus.REVOKED:
            raise self._illegal(verb, "a revoked approval is final")
        raise self._illegal(verb, _REFUSED_BECAUSE[action])

    def _expect_field_change(self, verb: str) -> None:
        if self.status not in FIELD_CHANGES_FROM:
            raise self._illegal(verb, "a revoked approval is final")

    def _move(
        self, action: ApprovalAction, verb: str, reason: str, actor: str | None, cause_event_id: str | None,
        at: dt.datetime,
    ) -> HistoryEntry:
        return self._record(action, self._expect(action, verb), (), reason, actor, cause_event_id, at)

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


def approved_kind(target_kind: str) -> Kind | None:
    """The kind of approval an inspected organisation holds; None for an enterprise (whose
    inspections are the certificates' business)."""
    try:
        return Kind(target_kind)
    except ValueError:
        return None
