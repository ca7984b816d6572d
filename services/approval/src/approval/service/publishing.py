"""What an approval's changes publish: each new history entry is saved and becomes its shared
event, in the same unit of work (the outbox), and in the order the changes happened."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork

from approval import db
from approval.domain import Approval, ApprovalAction, HistoryEntry


async def store_approval(uow: UnitOfWork, approval: Approval, *, new: bool = False) -> None:
    """Write the approval, append its new history entries and emit one event per entry."""
    await db.save_approval(uow.session, approval, updated_at=uow.clock.now(), new=new)
    for entry in approval.history:
        uow.emit(event_for(approval, entry))
    approval.history.clear()


def event_for(approval: Approval, entry: HistoryEntry) -> events.Event:
    """The shared event announcing one change of the approval."""
    common = dict(approval_id=approval.id, organisation_uscc=approval.organisation_uscc, kind=approval.kind.value)
    match entry.action:
        case ApprovalAction.GRANTED:
            return events.ApprovalGrantedV1(
                **common, organisation_name=approval.organisation_name, fields=sorted(approval.fields),
                path=approval.path.value, granted_at=approval.granted_at,
            )
        case ApprovalAction.SUSPENDED:
            return events.ApprovalSuspendedV1(**common, fields=list(entry.fields), reason=entry.reason)
        case ApprovalAction.REINSTATED:
            return events.ApprovalReinstatedV1(**common, fields=list(entry.fields), reason=entry.reason)
        case ApprovalAction.SCOPE_REDUCED:
            return events.ApprovalScopeReducedV1(
                **common, removed_fields=list(entry.fields), remaining_fields=sorted(approval.fields), reason=entry.reason
            )
        case ApprovalAction.REVOKED:
            return events.ApprovalRevokedV1(**common, reason=entry.reason)
    raise AssertionError(f"no event for {entry.action}")
