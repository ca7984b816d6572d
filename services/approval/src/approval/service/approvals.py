"""The approval lifecycle a regulator drives, one use case per act: suspend, reinstate,
reduce the scope, revoke. Each gives a reason, kept in the approval's history and published."""

from __future__ import annotations

from typing import Any

from conformity_shared.auth import Principal
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from approval import db
from approval.commands import ReduceScope, ReinstateApproval, RevokeApproval, SuspendApproval
from approval.domain import Approval
from approval.service.publishing import store_approval
from approval.service.views import get_approval


async def suspend_approval(runtime: ServiceRuntime, principal: Principal, command: SuspendApproval) -> dict[str, Any]:
    """Suspend the whole approval, or some of its fields (the rest stays as it is)."""
    async with runtime.unit_of_work() as uow:
        approval = await load_approval(uow, command.approval_id)
        approval.suspend(command.reason, at=uow.clock.now(), fields=command.fields or None, actor=principal.actor)
        await store_approval(uow, approval)
        await uow.commit()
    return await get_approval(runtime, principal, command.approval_id)


async def reinstate_approval(
    runtime: ServiceRuntime, principal: Principal, command: ReinstateApproval
) -> dict[str, Any]:
    """Lift the whole suspension (field suspensions stay), or the suspension of some fields."""
    async with runtime.unit_of_work() as uow:
        approval = await load_approval(uow, command.approval_id)
        approval.reinstate(command.reason, at=uow.clock.now(), fields=command.fields or None, actor=principal.actor)
        await store_approval(uow, approval)
        await uow.commit()
    return await get_approval(runtime, principal, command.approval_id)


async def reduce_scope(runtime: ServiceRuntime, principal: Principal, command: ReduceScope) -> dict[str, Any]:
    """Remove fields from the approval (removing them all is a revocation instead)."""
    async with runtime.unit_of_work() as uow:
        approval = await load_approval(uow, command.approval_id)
        approval.reduce_scope(command.remove_fields, command.reason, at=uow.clock.now(), actor=principal.actor)
        await store_approval(uow, approval)
        await uow.commit()
    return await get_approval(runtime, principal, command.approval_id)


async def revoke_approval(runtime: ServiceRuntime, principal: Principal, command: RevokeApproval) -> dict[str, Any]:
    """Revoke the approval; a revocation is final."""
    async with runtime.unit_of_work() as uow:
        approval = await load_approval(uow, command.approval_id)
        approval.revoke(command.reason, at=uow.clock.now(), actor=principal.actor)
        await store_approval(uow, approval)
        await uow.commit()
    return await get_approval(runtime, principal, command.approval_id)


async def load_approval(uow: UnitOfWork, approval_id: str) -> Approval:
    """The approval, locked for the change, or NotFound."""
    approval = await db.load_approval(uow.session, approval_id)
    if approval is None:
        raise NotFound(f"approval {approval_id} not found", field="approval_id")
    return approval
