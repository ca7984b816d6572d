"""The read model of approved bodies: what approval events say of each certification body's
standing and scope, which issuance and reinstatement check. The service never calls approval."""

from __future__ import annotations

from collections.abc import Callable

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork

from certificates import db, domain


async def record_body_granted(uow: UnitOfWork, event: events.ApprovalGrantedV1) -> None:
    if event.kind != events.OrganisationKind.CERTIFICATION_BODY:
        return  # labs do not issue certificates
    standing = domain.BodyStanding.granted(event.organisation_uscc, event.approval_id, event.fields,
                                           event.field_schemes)
    await db.save_granted_body(uow.session, standing, event.organisation_name, uow.clock.now())


async def record_body_suspended(uow: UnitOfWork, event: events.ApprovalSuspendedV1) -> None:
    await _follow(uow, event, lambda body: body.suspend(event.fields))


async def record_body_reinstated(uow: UnitOfWork, event: events.ApprovalReinstatedV1) -> None:
    await _follow(uow, event, lambda body: body.reinstate(event.fields))


async def record_body_scope_reduced(uow: UnitOfWork, event: events.ApprovalScopeReducedV1) -> None:
    await _follow(uow, event, lambda body: body.reduce_scope(event.remaining_fields))


async def record_body_revoked(uow: UnitOfWork, event: events.ApprovalRevokedV1) -> None:
    """Only the standing; the body's certificates are suspended by ``suspend_for_revoked_body``."""
    await _follow(uow, event, domain.BodyStanding.revoke)


async def _follow(
    uow: UnitOfWork, event: events.ApprovalEvent, change: Callable[[domain.BodyStanding], domain.BodyStanding]
) -> None:
    """Apply ``change`` to the body's standing when the event concerns the approval the read
    model follows (``BodyStanding.follows``); save it unless it stayed as it was."""
    body = await db.load_body(uow.session, event.organisation_uscc)
    if not body.follows(event.approval_id):
        return
    changed = change(body)
    if changed is not body:
        await db.save_body(uow.session, changed, uow.clock.now())
