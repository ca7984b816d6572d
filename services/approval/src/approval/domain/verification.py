"""Post-approval verification of a commitment-path approval: confirmed, or the commitment
was breached, which revokes the approval and brings a credit sanction::

    scheduled --assign-->  scheduled   (re-assignable until recorded)
    scheduled --confirm--> confirmed
    scheduled --record a breach--> breached

A verification is recorded once, by the inspector the regulator assigned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import DomainError

from approval.domain.errors import IllegalTransition, NotTheAssignedInspector
from approval.domain.lifecycle import Approval, ApprovalStatus, HistoryEntry
from approval.domain.rules import Rules
from approval.domain.values import Path, is_blank
from approval.domain.working_days import deadline_passed


class VerificationStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    BREACHED = "breached"


class VerificationOutcome(StrEnum):
    """What the inspector found: the declared facts true, or the commitment breached."""

    CONFIRMED = "confirmed"
    BREACHED = "breached"


class VerificationAction(StrEnum):
    """What is done to a verification (the values read in messages: "cannot assign verification ...")."""

    ASSIGN = "assign"
    CONFIRM = "confirm"
    RECORD_BREACH = "record a breach for"


# action -> (the statuses it applies to, the status it leads to)
TRANSITIONS: Mapping[VerificationAction, tuple[frozenset[VerificationStatus], VerificationStatus]] = MappingProxyType(
    {
        VerificationAction.ASSIGN: (frozenset({VerificationStatus.SCHEDULED}), VerificationStatus.SCHEDULED),
        VerificationAction.CONFIRM: (frozenset({VerificationStatus.SCHEDULED}), VerificationStatus.CONFIRMED),
        VerificationAction.RECORD_BREACH: (frozenset({VerificationStatus.SCHEDULED}), VerificationStatus.BREACHED),
    }
)

# Why an action is refused once the verification is recorded.
_REFUSED_BECAUSE: Mapping[VerificationAction, str] = MappingProxyType(
    {
        VerificationAction.ASSIGN: "a recorded verification is not re-assigned",
        VerificationAction.CONFIRM: "a verification is recorded once",
        VerificationAction.RECORD_BREACH: "a verification is recorded once",
    }
)


@dataclass(frozen=True)
class CreditSanction:
    """A breached commitment marks the organisation as untrustworthy (DESIGN: credit sanction)."""

    id: str
    organisation_uscc: str
    reason: str
    verification_id: str
    at: dt.datetime


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
    def schedule(cls, *, id: str, approval: Approval, on: dt.date, rules: Rules) -> Verification:  # noqa: A002
        """Due ``verification_days`` calendar days after ``on``, the regulator's day of the grant."""
        if approval.path is not Path.COMMITMENT:
            raise IllegalTransition(f"approval {approval.id}", "schedule a verification of", approval.path.value,
                                    "only commitment-path approvals are verified after the grant")
        return cls(id=id, approval_id=approval.id, organisation_uscc=approval.organisation_uscc,
                   due=on + dt.timedelta(days=rules.verification_days))

    def assign(self, inspector_id: str) -> None:
        """The regulator names the inspector; re-assignable until the verification is recorded."""
        self._expect(VerificationAction.ASSIGN)
        if is_blank(inspector_id):
            raise DomainError("a verification is assigned to an inspector (their id)", "inspector_id")
        self.inspector_id = inspector_id.strip()

    def check_recorded_by(self, inspector_id: str | None) -> None:
        """Only the inspector assigned to the verification records it (``NotTheAssignedInspector``, 403)."""
        if self.inspector_id is None or self.inspector_id != inspector_id:
            raise NotTheAssignedInspector(inspector_id, self.id)

    def is_overdue(self, today: dt.date) -> bool:
        return self.status is VerificationStatus.SCHEDULED and deadline_passed(self.due, today)

    def confirm(self, *, inspector_id: str, findings: str | None, at: dt.datetime) -> None:
        """The inspector found the declared facts true."""
        self._record(VerificationAction.CONFIRM, inspector_id, findings, at)

    def record_breach(
        self,
        approval: Approval,
        *,
        inspector_id: str,
        findings: str,
        at: dt.datetime,
        cause_event_id: str | None = None,
        actor: str | None = None,
    ) -> HistoryEntry | None:
        """The commitment was untrue: the approval is revoked (unless it already is).

        Returns the approval's revocation entry, or None when it was already revoked; the
        breach itself (and the credit sanction it brings) is recorded either way. ``actor``
        names the inspector in the approval's history (default: the inspector id).
        """
        if approval.id != self.approval_id:
            raise DomainError(f"verification {self.id} is of approval {self.approval_id}, not {approval.id}",
                              "approval_id")
        if is_blank(findings):
            raise DomainError("a breached commitment needs the findings", "findings")
        self._record(VerificationAction.RECORD_BREACH, inspector_id, findings, at)
        if approval.status is ApprovalStatus.REVOKED:
            return None
        return approval.revoke(f"commitment breached: {findings}", at=at, actor=actor or inspector_id,
                               cause_event_id=cause_event_id)

    def credit_sanction(self, *, id: str) -> CreditSanction:  # noqa: A002
        """The sanction a recorded breach brings on the organisation."""
        if self.status is not VerificationStatus.BREACHED or self.recorded_at is None:
            raise DomainError(f"verification {self.id} recorded no breach", "status")
        return CreditSanction(id=id, organisation_uscc=self.organisation_uscc,
                              reason=f"commitment breached: {self.findings}", verification_id=self.id,
                              at=self.recorded_at)

    def _expect(self, action: VerificationAction) -> VerificationStatus:
        allowed_from, to = TRANSITIONS[action]
        if self.status not in allowed_from:
            raise IllegalTransition(f"verification {self.id}", action.value, self.status.value,
                                    _REFUSED_BECAUSE[action])
        return to

    def _record(self, action: VerificationAction, inspector_id: str, findings: str | None, at: dt.datetime) -> None:
        self.status = self._expect(action)
        self.inspector_id = inspector_id
        self.findings = findings
        self.recorded_at = at
