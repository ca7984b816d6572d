"""Consequences (DESIGN flow 4): each lab's outcome history per field; a failure emits
LabFailureV1, and the suspension rule met emits LabFieldSuspensionRequiredV1."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from conformity_shared import events
from conformity_shared.auth import Principal
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from proficiency import db, domain
from proficiency.service import views

log = structlog.get_logger("proficiency")


async def record_outcome(
    uow: UnitOfWork, lab: str, field: str, entry: domain.HistoryEntry, at: dt.datetime, detail: str
) -> None:
    """Append an outcome to the lab's history in the field; a failure emits LabFailureV1, and
    may require the field's suspension (``require_suspension_if_due``)."""
    await db.add_outcome(uow.session, lab, field, entry, at)
    if not domain.is_lab_failure(entry):
        # Neither rule can be met by an outcome that is not a failure.
        return
    uow.emit(
        events.LabFailureV1(
            lab_uscc=lab, field=field, failure=entry.failure_kind.value, reference_id=entry.reference_id,
            detail=detail,
        )
    )
    await require_suspension_if_due(uow, lab, field, at)


async def require_suspension_if_due(uow: UnitOfWork, lab: str, field: str, at: dt.datetime) -> None:
    """When the lab's history in the field meets the suspension rule, record the suspension and
    emit LabFieldSuspensionRequiredV1. The outcomes that met it are settled by that suspension
    and count no more: one pair of action signals suspends the field once."""
    unsettled = await db.unsettled_outcomes(uow.session, lab, field)
    reason = domain.suspension_required([entry for _, entry in unsettled])
    if reason is None:
        return
    await db.add_field_suspension(uow.session, lab, field, reason, at, settles=[seq for seq, _ in unsettled])
    uow.emit(
        events.LabFieldSuspensionRequiredV1(
            lab_uscc=lab, field=field, reason=str(reason), reference_ids=list(reason.evidence)
        )
    )
    log.warning("lab field suspension required", lab=lab, field=field, rule=reason.rule.value)


async def lab_outcomes(runtime: ServiceRuntime, principal: Principal, lab: str) -> dict[str, Any]:
    """A lab's outcomes (rounds and blind samples) and the suspensions they required: the
    regulator's view of any lab, or the lab's own (another lab answers 404, as a lab that has
    none). A lab is not told which of its samples were checks, so its own view leaves out the
    blind samples' outcomes; a suspension's evidence is kept whole: its grounds are stated to
    the lab it concerns."""
    if not views.is_regulator(principal) and lab != (principal.org or "").upper():
        raise NotFound(f"lab {lab} not found", field="lab_uscc")
    async with runtime.sessions() as session:
        outcomes, suspensions = await db.lab_history(session, lab)
    if not views.is_regulator(principal):
        outcomes = [r for r in outcomes if r.kind != domain.OutcomeKind.BLIND_SAMPLE.value]
    return views.lab_outcomes_view(lab, outcomes, suspensions)
