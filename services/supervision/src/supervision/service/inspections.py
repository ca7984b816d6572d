"""Inspections: ordered by the regulator or opened by a draw, recorded by their inspectors.

Recording a result publishes what it sets off in the same transaction: a failed spot check
names the certificates to suspend, a passed re-inspection those to reinstate, a failed body
or lab is reported to approval, and the target's credit class drops on a failure.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.commands import OrderInspection, RecordResult
from supervision.domain import (
    AssignmentOverride,
    Consequence,
    Inspection,
    InspectionFailed,
    InspectionKind,
    InspectionStatus,
    RectificationVerified,
    ResultAlreadyRecorded,
    SampleResult,
    SpotCheckFailed,
    check_order,
)
from supervision.service.credit import apply_failure, credit_policy


async def order_inspection(runtime: ServiceRuntime, principal: Principal, command: OrderInspection) -> dict[str, Any]:
    """Open an inspection outside a campaign, or the re-inspection of a failed spot check, assigned as a
    draw would assign it unless the regulator's override sets a rule aside (kept with its reason)."""
    requested = AssignmentOverride.of(command.override.rules, command.override.reason) if command.override else None
    async with runtime.unit_of_work() as uow:
        registered = await db.inspectors_by_id(uow.session, command.inspector_ids)
        previous = await db.previous_campaign_inspectors(uow.session, command.target_uscc)
        override = check_order(command.target_uscc, command.inspector_ids, registered, previous, requested)
        inspection = await _ordered_inspection(uow, command, str(uuid.uuid4()), override)
        await db.add_inspections(uow.session, [inspection], None, uow.clock.now())
        await uow.commit()
    return await get_inspection(runtime, principal, inspection.id)


async def _ordered_inspection(
    uow: UnitOfWork, command: OrderInspection, inspection_id: str, override: AssignmentOverride | None
) -> Inspection:
    if command.kind != InspectionKind.RE_INSPECTION:
        return Inspection(
            id=inspection_id, kind=InspectionKind(command.kind), target_id=command.target_uscc,
            target_kind=command.target_kind, inspector_ids=frozenset(command.inspector_ids), override=override,
        )
    assert command.spot_check_id is not None  # the command requires it for a re-inspection
    spot_check, _, _ = await _load(uow, command.spot_check_id, field="spot_check_id")
    return Inspection.re_inspection_of(
        spot_check, inspection_id, command.inspector_ids, target_id=command.target_uscc, override=override
    )


async def _load(uow: UnitOfWork, inspection_id: str, field: str = "inspection_id") -> tuple[Inspection, Any, list[str]]:
    """The inspection, with the row and the assigned inspectors it was built from."""
    loaded = await db.load_inspection_with_row(uow.session, inspection_id)
    if loaded is None:
        raise NotFound(f"inspection {inspection_id} not found", field=field)
    return loaded


async def record_result(runtime: ServiceRuntime, principal: Principal, command: RecordResult) -> dict[str, Any]:
    """An assigned inspector records the inspection's one result; its consequences are published with it."""
    async with runtime.unit_of_work() as uow:
        inspection, row, assigned = await _load(uow, command.inspection_id)
        samples = [SampleResult(s.certificate_number, s.passed, s.finding or "") for s in command.samples]
        recorded = inspection.record(
            principal.inspector_id or "?", command.verdict, command.findings, samples, uow.clock.now()
        )
        if not await db.save_result(uow.session, recorded.inspection):
            raise ResultAlreadyRecorded(inspection.id)
        for fact in recorded.consequences:
            uow.emit(event_for(fact))
        if recorded.credit_failure is not None:
            policy = credit_policy(runtime.settings)
            await apply_failure(uow, inspection.target_id, recorded.credit_failure, policy)
        await uow.commit()
    # The answer from what the transaction read and wrote, not read back: the relay publishes
    # the consequences meanwhile, on the same event loop.
    async with runtime.sessions() as session:
        return await _answer(session, db.row_after_result(row, recorded.inspection), assigned)


def event_for(fact: Consequence) -> events.Event:
    """The shared event that announces a consequence of a recorded result."""
    match fact:
        case SpotCheckFailed():
            return events.SpotCheckFailedV1(
                inspection_id=fact.inspection_id, holder_uscc=fact.holder_id,
                certificate_numbers=list(fact.certificate_numbers), findings=fact.findings,
            )
        case RectificationVerified():
            return events.RectificationVerifiedV1(
                inspection_id=fact.inspection_id, spot_check_id=fact.spot_check_id, holder_uscc=fact.holder_id,
                certificate_numbers=list(fact.certificate_numbers),
            )
        case InspectionFailed():
            return events.InspectionFailedV1(
                inspection_id=fact.inspection_id, target_uscc=fact.target_id, target_kind=fact.target_kind,
                findings=fact.findings,
            )
    raise AssertionError(f"no event for {fact!r}")


def _inspection_view(row: Any, assigned: list[str]) -> dict[str, Any]:
    return {
        "id": row.id, "campaign_id": row.campaign_id, "target_uscc": row.target_uscc, "target_kind": row.target_kind,
        "kind": row.kind, "spot_check_id": row.spot_check_id, "certificates_to_verify": row.certificates_to_verify,
        "status": row.status, "verdict": row.verdict, "findings": row.findings, "samples": row.samples,
        "inspectors": assigned, "created_at": row.created_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        "override": {"rules": row.override_rules, "reason": row.override_reason} if row.override_rules else None,
    }


async def get_inspection(runtime: ServiceRuntime, principal: Principal, inspection_id: str) -> dict[str, Any]:
    """One inspection, for the regulator or an inspector assigned to it (to anyone else it does not exist)."""
    async with runtime.sessions() as session:
        loaded = await db.load_inspection_with_row(session, inspection_id)
        if loaded is None or (principal.role is Role.INSPECTOR and principal.inspector_id not in loaded[2]):
            raise NotFound(f"inspection {inspection_id} not found", field="inspection_id")
        _, row, assigned = loaded
        return await _answer(session, row, assigned)


async def _answer(session: AsyncSession, row: Any, assigned: list[str]) -> dict[str, Any]:
    """An inspection's view; for an enterprise, with the holder's certificates to sample."""
    view = _inspection_view(row, assigned)
    if row.target_kind == events.OrganisationKind.ENTERPRISE.value:
        # What the inspector may sample: the holder's certificates as the directory knows them.
        certificates = await db.holder_certificates(session, row.target_uscc)
        view["holder_certificates"] = [{"number": n, "status": st} for n, st in certificates]
    return view


async def list_inspections(
    runtime: ServiceRuntime,
    principal: Principal,
    campaign_id: str | None,
    status: InspectionStatus | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """Inspections, newest first; an inspector sees only those assigned to them."""
    assigned_to = None
    if principal.role is Role.INSPECTOR:
        if not principal.inspector_id:
            return {"items": []}  # a token that names no inspector is assigned nothing
        assigned_to = principal.inspector_id
    async with runtime.sessions() as session:
        rows = await db.inspection_page(session, assigned_to, campaign_id, status, limit, offset)
        assigned = await db.assignments_of(session, [r.id for r in rows])
    return {"items": [_inspection_view(r, assigned[r.id]) for r in rows]}
