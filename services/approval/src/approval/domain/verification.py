"""Post-approval verification of a commitment-path approval: confirmed, or the commitment
was breached, which revokes the approval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from conformity_shared.errors import DomainError

from approval.domain.working_days import deadline_passed
from approval.domain.errors import IllegalTransition
from approval.domain.lifecycle import Approval, ApprovalStatus, HistoryEntry
from approval.domain.rules import Path, Rules, _blank


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

    def assign(self, inspector_id: str) -> None:
        """The regulator names the inspector; re-assignable until the verification is recorded."""
        if self.status is not VerificationStatus.SCHEDULED:
            raise IllegalTransition(f"verification {self.id}", "assign", self.status.value,
                                    "a recorded verification is not re-assigned")
        if _blank(inspector_id):
            raise DomainError("a verification is assigned to an inspector (their id)", "inspector_id")
        self.inspector_id = inspector_id.strip()

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
        if _blank(findings):
            raise DomainError("a breached commitment needs the findings", "findings")
        self._record(VerificationStatus.BREACHED, inspector_id, findings, at, "record a breach for")
        if approval.status is ApprovalStatus.REVOKED:
            return None
        return approval.revoke(f"commitment breached: {findings}", at=at, actor=actor or inspector_id,
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
