"""What approval does when other services report: a failed inspection of a body or lab
suspends its approval; a lab's repeated proficiency failures in a field suspend that field."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork

from approval import db
from approval.domain import Kind, approved_kind
from approval.service.publishing import store_approval


async def suspend_after_failed_inspection(uow: UnitOfWork, event: events.InspectionFailedV1) -> None:
    """A failed inspection of a certification body or lab suspends its approval (whole).

    An inspection of an enterprise is the certificates' business; an approval already
    suspended stays as it is.
    """
    kind = approved_kind(event.target_kind.value)
    if kind is None:
        return
    for approval in await db.unrevoked_approvals_of(uow.session, event.target_uscc, kind):
        entry = approval.suspend_for_failed_inspection(
            event.inspection_id, event.findings, at=uow.clock.now(), cause_event_id=uow.cause_event_id
        )
        if entry is not None:
            await store_approval(uow, approval)


async def suspend_lab_field(uow: UnitOfWork, event: events.LabFieldSuspensionRequiredV1) -> None:
    """DESIGN flow 4: that field of the lab's qualification is suspended, the rest stays."""
    for approval in await db.unrevoked_approvals_of(uow.session, event.lab_uscc, Kind.TESTING_LAB):
        entry = approval.suspend_field_for_proficiency(
            event.field, event.reason, at=uow.clock.now(), cause_event_id=uow.cause_event_id
        )
        if entry is not None:
            await store_approval(uow, approval)
