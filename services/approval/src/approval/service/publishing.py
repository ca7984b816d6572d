"""What an approval's changes publish: each new history entry is saved and becomes its shared
event, in the same unit of work (the outbox), and in the order the changes happened."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork

from approval import db
from approval.domain import Approval, ApprovalAction, Catalogue, HistoryEntry


async def store_approval(
    uow: UnitOfWork, approval: Approval, *, new: bool = False, catalogue: Catalogue | None = None
) -> None:
    """Write the approval, append its new history entries and emit one event per entry; a grant
    needs the ``catalogue`` it was granted under (its event names the schemes each field admits)."""
    await db.save_approval(uow.session, approval, updated_at=uow.clock.now(), new=new)
    for entry in approval.history:
        uow.emit(event_for(approval, entry, catalogue))
    approval.history.clear()


def event_for(approval: Approval, entry: HistoryEntry, catalogue: Catalogue | None = None) -> events.Event:
    """The shared event announcing one change of the approval."""
    common = dict(approval_id=approval.id, organisation_uscc=approval.organisation_uscc, kind=approval.kind.value)
    match entry.action:
        case ApprovalAction.GRANTED:
            assert catalogue is not None, "a grant is published with the catalogue it was granted under"
            return events.ApprovalGrantedV1(
                **common, organisation_name=approval.organisation_name, fields=sorted(approval.fields),
                path=approval.path.value, granted_at=approval.granted_at,
                field_schemes=catalogue.schemes_of(approval.fields),
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
