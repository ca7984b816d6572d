"""Post-approval verification: the regulator assigns an inspector, who records it; a
breached commitment revokes the approval and brings a credit sanction."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from conformity_shared import events
from conformity_shared.auth import Principal
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from approval import db
from approval.commands import AssignVerification, RecordVerification
from approval.domain import Verification, VerificationOutcome
from approval.service.approvals import load_approval
from approval.service.publishing import store_approval
from approval.service.views import get_verification

log = structlog.get_logger("approval")


async def assign_verification(
    runtime: ServiceRuntime, principal: Principal, command: AssignVerification
) -> dict[str, Any]:
    """The regulator names the inspector who will verify the commitment (re-assignable until recorded)."""
    async with runtime.unit_of_work() as uow:
        verification = await _load(uow, command.verification_id)
        verification.assign(command.inspector_id)
        await db.save_verification(uow.session, verification)
        await uow.commit()
    log.info("verification assigned", verification_id=command.verification_id, inspector_id=command.inspector_id,
             by=principal.actor)
    return await get_verification(runtime, command.verification_id)


async def record_verification(
    runtime: ServiceRuntime, principal: Principal, command: RecordVerification
) -> dict[str, Any]:
    """The assigned inspector records the verification: confirmed, or the commitment breached."""
    async with runtime.unit_of_work() as uow:
        verification = await _load(uow, command.verification_id)
        verification.check_recorded_by(principal.inspector_id)
        if command.outcome is VerificationOutcome.CONFIRMED:
            verification.confirm(inspector_id=principal.inspector_id, findings=command.findings, at=uow.clock.now())
        else:
            await _record_breach(uow, verification, principal, command.findings)
        await db.save_verification(uow.session, verification)
        await uow.commit()
    return await get_verification(runtime, command.verification_id)


async def _record_breach(uow: UnitOfWork, verification: Verification, principal: Principal, findings: str) -> None:
    """A breached commitment is a credit sanction on the organisation and revokes the
    approval: approval.commitment_breached.v1 is emitted, then approval.revoked.v1 (same
    transaction, same key, so in that order on the topic)."""
    approval = await load_approval(uow, verification.approval_id)
    verification.record_breach(
        approval, inspector_id=principal.inspector_id, findings=findings, at=uow.clock.now(), actor=principal.actor
    )
    await db.add_credit_sanction(uow.session, verification.credit_sanction(id=str(uuid.uuid4())))
    uow.emit(
        events.CommitmentBreachedV1(
            approval_id=approval.id, organisation_uscc=approval.organisation_uscc, kind=approval.kind.value,
            verification_id=verification.id, findings=findings,
        )
    )
    await store_approval(uow, approval)  # the revocation, unless it was revoked already


async def _load(uow: UnitOfWork, verification_id: str) -> Verification:
    verification = await db.load_verification(uow.session, verification_id)
    if verification is None:
        raise NotFound(f"verification {verification_id} not found", field="verification_id")
    return verification
