"""Consequences (DESIGN flow 4): each lab's outcome history per field; a failure emits
LabFailureV1, and the suspension rule met emits LabFieldSuspensionRequiredV1."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
import structlog

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from proficiency import db, domain
from proficiency.domain import iso13528

log = structlog.get_logger("proficiency")


async def record_outcome(
    uow: UnitOfWork,
    lab: str,
    field: str,
    entry: domain.RoundOutcome | domain.BlindSampleOutcome,
    at: dt.datetime,
    detail: str,
) -> None:
    """Append an outcome to the lab's history in the field; a failure emits LabFailureV1, and
    when the history now meets the suspension rule LabFieldSuspensionRequiredV1 too. The
    outcomes that met it are settled by that suspension and count no more."""
    o = db.lab_outcomes
    is_round = isinstance(entry, domain.RoundOutcome)
    failure = domain.is_lab_failure(entry)
    reference = entry.round_id if is_round else entry.sample_id
    await uow.session.execute(
        sa.insert(o).values(
            lab_uscc=lab, field=field, kind="round" if is_round else "blind_sample", reference_id=reference,
            signal=entry.signal.value if is_round else None, passed=None if is_round else entry.passed,
            failure=failure, at=at,
        )
    )
    if not failure:
        # Neither rule can be met by an outcome that is not a failure.
        return
    uow.emit(
        events.LabFailureV1(
            lab_uscc=lab, field=field, failure="action_signal" if is_round else "blind_sample_failed",
            reference_id=reference, detail=detail,
        )
    )
    unsettled = (
        await uow.session.execute(
            sa.select(o.c.seq, o.c.kind, o.c.reference_id, o.c.signal, o.c.passed)
            .where(o.c.lab_uscc == lab, o.c.field == field, o.c.settled_by.is_(None))
            .order_by(o.c.seq)
        )
    ).all()
    history = [
        domain.RoundOutcome(r.reference_id, iso13528.Signal(r.signal)) if r.kind == "round"
        else domain.BlindSampleOutcome(r.reference_id, bool(r.passed))
        for r in unsettled
    ]
    reason = domain.suspension_required(history)
    if reason is None:
        return
    suspension_id = str(uuid.uuid4())
    await uow.session.execute(
        sa.insert(db.field_suspensions).values(
            id=suspension_id, lab_uscc=lab, field=field, rule=reason.rule.value, evidence=list(reason.evidence), at=at
        )
    )
    await uow.session.execute(
        sa.update(o).where(o.c.seq.in_([r.seq for r in unsettled])).values(settled_by=suspension_id)
    )
    uow.emit(
        events.LabFieldSuspensionRequiredV1(
            lab_uscc=lab, field=field, reason=str(reason), reference_ids=list(reason.evidence)
        )
    )
    log.warning("lab field suspension required", lab=lab, field=field, rule=reason.rule.value)


async def lab_outcomes(runtime: ServiceRuntime, lab: str) -> dict[str, Any]:
    """A lab's outcomes (rounds and blind samples) and the suspensions they required (regulator)."""
    o, s = db.lab_outcomes, db.field_suspensions
    async with runtime.sessions() as session:
        outcomes = (await session.execute(sa.select(o).where(o.c.lab_uscc == lab).order_by(o.c.seq))).all()
        suspensions = (await session.execute(sa.select(s).where(s.c.lab_uscc == lab).order_by(s.c.at))).all()
    return {
        "lab_uscc": lab,
        "outcomes": [
            {"field": r.field, "kind": r.kind, "reference_id": r.reference_id, "signal": r.signal,
             "passed": r.passed, "failure": r.failure, "at": r.at.isoformat(), "settled_by": r.settled_by}
            for r in outcomes
        ],
        "suspensions_required": [
            {"id": r.id, "field": r.field, "rule": r.rule, "evidence": r.evidence, "at": r.at.isoformat()}
            for r in suspensions
        ],
    }
