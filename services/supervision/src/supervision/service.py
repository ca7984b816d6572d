"""Use cases of supervision: directories from events, inspections and their results,
credit classes, public results. Rules live in domain.py and draw.py."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
import structlog

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import Conflict, DomainError, Forbidden, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from supervision import db, domain

log = structlog.get_logger("supervision")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- directory of targets, from events ---------------------------------------------------


async def _upsert_target(uow: UnitOfWork, uscc: str, kind: str, name: str) -> None:
    exists = await uow.session.scalar(sa.select(db.targets.c.uscc).where(db.targets.c.uscc == uscc))
    if exists:
        await uow.session.execute(
            sa.update(db.targets).where(db.targets.c.uscc == uscc).values(kind=kind, name=name, updated_at=_now())
        )
    else:
        await uow.session.execute(
            sa.insert(db.targets).values(uscc=uscc, kind=kind, name=name, credit_class="A", updated_at=_now())
        )


async def record_approved_organisation(uow: UnitOfWork, event: events.ApprovalGrantedV1) -> None:
    await _upsert_target(uow, event.organisation_uscc, event.kind.value, event.organisation_name)


async def record_certified_enterprise(uow: UnitOfWork, event: events.CertificateIssuedV1) -> None:
    known = await uow.session.scalar(sa.select(db.targets.c.kind).where(db.targets.c.uscc == event.holder_uscc))
    if known is None:
        await _upsert_target(uow, event.holder_uscc, events.OrganisationKind.ENTERPRISE.value, event.holder_name)
    await uow.session.execute(sa.delete(db.target_certificates).where(
        db.target_certificates.c.certificate_number == event.certificate_number))
    await uow.session.execute(
        sa.insert(db.target_certificates).values(
            certificate_number=event.certificate_number, holder_uscc=event.holder_uscc, status="valid"
        )
    )


_STATUS = {
    events.CertificateSuspendedV1: "suspended",
    events.CertificateReinstatedV1: "valid",
    events.CertificateWithdrawnV1: "withdrawn",
    events.CertificateCancelledV1: "cancelled",
    events.CertificateExpiredV1: "expired",
}


async def record_certificate_status(uow: UnitOfWork, event: events.CertificateEvent) -> None:
    await uow.session.execute(
        sa.update(db.target_certificates)
        .where(db.target_certificates.c.certificate_number == event.certificate_number)
        .values(status=_STATUS[type(event)])
    )


# --- credit classes ------------------------------------------------------------------------


async def _lower_credit(uow: UnitOfWork, uscc: str, failure: domain.Failure, cause: str) -> None:
    row = (await uow.session.execute(sa.select(db.targets).where(db.targets.c.uscc == uscc))).first()
    if row is None:
        # A failure may arrive before the organisation's own event; keep it in the directory anyway.
        await _upsert_target(uow, uscc, "unknown", uscc)
        row = (await uow.session.execute(sa.select(db.targets).where(db.targets.c.uscc == uscc))).first()
    change = domain.lower(domain.CreditClass(row.credit_class), failure, cause)
    await uow.session.execute(
        sa.update(db.targets).where(db.targets.c.uscc == uscc).values(
            credit_class=change.current.value, last_failure_at=_now(), updated_at=_now()
        )
    )
    if change.current != change.previous:
        await _record_credit_change(uow, uscc, change)


async def _record_credit_change(uow: UnitOfWork, uscc: str, change: domain.CreditChange) -> None:
    await uow.session.execute(
        sa.insert(db.credit_changes).values(
            organisation_uscc=uscc, previous=change.previous.value, current=change.current.value,
            cause=change.cause, cause_event_id=uow.cause_event_id, at=_now(),
        )
    )
    uow.emit(
        events.CreditClassChangedV1(
            organisation_uscc=uscc, previous=change.previous.value, current=change.current.value, cause=change.cause
        )
    )


async def lower_credit_for_breached_commitment(uow: UnitOfWork, event: events.CommitmentBreachedV1) -> None:
    await _lower_credit(uow, event.organisation_uscc, domain.Failure.BREACHED_COMMITMENT,
                        f"commitment breached (verification {event.verification_id})")


async def lower_credit_for_lab_failure(uow: UnitOfWork, event: events.LabFailureV1) -> None:
    await _lower_credit(uow, event.lab_uscc, domain.Failure.LAB_FAILURE,
                        f"lab failure in {event.field}: {event.failure} ({event.reference_id})")


# --- inspectors ----------------------------------------------------------------------------


async def register_inspector(runtime: ServiceRuntime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        if await uow.session.scalar(sa.select(db.inspectors.c.id).where(db.inspectors.c.id == body["id"])):
            raise Conflict(f"inspector {body['id']} is already registered", field="id")
        await uow.session.execute(sa.insert(db.inspectors).values(**body, registered_at=_now()))
        await uow.commit()
    return body


async def list_inspectors(runtime: ServiceRuntime) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = (await session.execute(sa.select(db.inspectors).order_by(db.inspectors.c.id))).mappings().all()
    return {"items": [{k: v for k, v in r.items() if k != "registered_at"} for r in rows]}


# --- inspections -----------------------------------------------------------------------------


async def order_inspection(runtime: ServiceRuntime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        inspectors = (
            await uow.session.execute(sa.select(db.inspectors).where(db.inspectors.c.id.in_(body["inspector_ids"])))
        ).all()
        found = {i.id: i for i in inspectors}
        for inspector_id in body["inspector_ids"]:
            if inspector_id not in found:
                raise DomainError(f"inspector {inspector_id} is not registered", field="inspector_ids")
            if not found[inspector_id].active:
                raise DomainError(f"inspector {inspector_id} is not active", field="inspector_ids")
            if found[inspector_id].organisation == body["target_uscc"]:
                raise DomainError(
                    f"inspector {inspector_id} works for the target (conflict of interest)", field="inspector_ids"
                )
        if body["follows_inspection_id"]:
            followed = (
                await uow.session.execute(sa.select(db.inspections).where(db.inspections.c.id == body["follows_inspection_id"]))
            ).first()
            if followed is None or followed.outcome != "fail" or followed.target_uscc != body["target_uscc"]:
                raise DomainError(
                    "follows_inspection_id must name a failed inspection of the same target", field="follows_inspection_id"
                )
        inspection_id = str(uuid.uuid4())
        await _create_inspection(uow, inspection_id, None, body)
        await uow.commit()
    return await get_inspection(runtime, principal, inspection_id)


async def _create_inspection(uow: UnitOfWork, inspection_id: str, campaign_id: str | None, body: dict[str, Any]) -> None:
    await uow.session.execute(
        sa.insert(db.inspections).values(
            id=inspection_id, campaign_id=campaign_id, target_uscc=body["target_uscc"],
            target_kind=str(body["target_kind"]), kind=body["kind"], follows_inspection_id=body.get("follows_inspection_id"),
            status="assigned", samples=[], created_at=_now(),
        )
    )
    await uow.session.execute(
        sa.insert(db.inspection_assignments),
        [{"inspection_id": inspection_id, "inspector_id": i} for i in body["inspector_ids"]],
    )


async def _inspection(session: Any, inspection_id: str) -> tuple[Any, list[str]]:
    row = (await session.execute(sa.select(db.inspections).where(db.inspections.c.id == inspection_id))).first()
    if row is None:
        raise NotFound(f"inspection {inspection_id} not found", field="inspection_id")
    assigned = list(
        (
            await session.execute(
                sa.select(db.inspection_assignments.c.inspector_id)
                .where(db.inspection_assignments.c.inspection_id == inspection_id)
                .order_by(db.inspection_assignments.c.inspector_id)
            )
        ).scalars()
    )
    return row, assigned


def _inspection_view(row: Any, assigned: list[str]) -> dict[str, Any]:
    return {
        "id": row.id, "campaign_id": row.campaign_id, "target_uscc": row.target_uscc, "target_kind": row.target_kind,
        "kind": row.kind, "follows_inspection_id": row.follows_inspection_id, "status": row.status,
        "outcome": row.outcome, "findings": row.findings, "samples": row.samples, "inspectors": assigned,
        "created_at": row.created_at.isoformat(), "completed_at": row.completed_at.isoformat() if row.completed_at else None,
    }


async def get_inspection(runtime: ServiceRuntime, principal: Principal, inspection_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row, assigned = await _inspection(session, inspection_id)
    if principal.role is Role.INSPECTOR and principal.inspector_id not in assigned:
        raise NotFound(f"inspection {inspection_id} not found", field="inspection_id")
    return _inspection_view(row, assigned)


async def record_result(
    runtime: ServiceRuntime, principal: Principal, inspection_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        row, assigned = await _inspection(uow.session, inspection_id)
        if principal.inspector_id not in assigned:
            raise Forbidden(f"inspector {principal.inspector_id} is not assigned to inspection {inspection_id}")
        if row.status == "completed":
            raise Conflict(f"inspection {inspection_id} already has a result", field="inspection_id")
        result = domain.evaluate_result(row.kind, body["outcome"], body["findings"], body["samples"])
        at = _now()
        await uow.session.execute(
            sa.update(db.inspections).where(db.inspections.c.id == inspection_id).values(
                status="completed", outcome=result.outcome, findings=body["findings"], samples=body["samples"],
                completed_at=at, recorded_by=principal.inspector_id,
            )
        )
        await _emit_consequences(uow, row, result, body)
        await uow.commit()
    return await get_inspection(runtime, principal, inspection_id)


async def _emit_consequences(uow: UnitOfWork, row: Any, result: domain.InspectionResult, body: dict[str, Any]) -> None:
    findings = body["findings"] or ""
    if row.kind == "product_spot_check" and result.outcome == "fail":
        uow.emit(
            events.SpotCheckFailedV1(
                inspection_id=row.id, holder_uscc=row.target_uscc,
                certificate_numbers=list(result.failed_certificates), findings=findings,
            )
        )
        await _lower_credit(uow, row.target_uscc, domain.Failure.SPOT_CHECK_FAILED, f"product spot check {row.id} failed")
    elif row.kind == "re_inspection" and result.outcome == "pass":
        followed = (await uow.session.execute(sa.select(db.inspections).where(db.inspections.c.id == row.follows_inspection_id))).first()
        failed = [s["certificate_number"] for s in (followed.samples or []) if not s["passed"]]
        if followed.kind == "product_spot_check" and failed:
            uow.emit(
                events.RectificationVerifiedV1(
                    inspection_id=row.id, spot_check_id=followed.id, holder_uscc=row.target_uscc, certificate_numbers=failed
                )
            )
    elif result.outcome == "fail" and row.target_kind in ("certification_body", "testing_lab"):
        uow.emit(
            events.InspectionFailedV1(
                inspection_id=row.id, target_uscc=row.target_uscc, target_kind=row.target_kind, findings=findings
            )
        )
        await _lower_credit(uow, row.target_uscc, domain.Failure.INSPECTION_FAILED, f"inspection {row.id} failed")


# --- directory queries and one public ----------------------------------------------------------


async def list_targets(runtime: ServiceRuntime, kind: Any, limit: int, offset: int) -> dict[str, Any]:
    query = sa.select(db.targets).order_by(db.targets.c.uscc).limit(limit).offset(offset)
    if kind:
        query = query.where(db.targets.c.kind == str(kind))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).mappings().all()
    return {"items": [{"uscc": r["uscc"], "kind": r["kind"], "name": r["name"], "credit_class": r["credit_class"]} for r in rows]}


async def get_target(runtime: ServiceRuntime, uscc: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.targets).where(db.targets.c.uscc == uscc))).first()
        if row is None:
            raise NotFound(f"no target {uscc} in the directory", field="uscc")
        changes = (
            await session.execute(
                sa.select(db.credit_changes).where(db.credit_changes.c.organisation_uscc == uscc).order_by(db.credit_changes.c.id)
            )
        ).all()
    return {
        "uscc": row.uscc, "kind": row.kind, "name": row.name, "credit_class": row.credit_class,
        "credit_history": [
            {"previous": c.previous, "current": c.current, "cause": c.cause, "cause_event_id": c.cause_event_id, "at": c.at.isoformat()}
            for c in changes
        ],
    }


async def published_results(
    runtime: ServiceRuntime, organisation: str | None, since: dt.date | None, until: dt.date | None, limit: int, offset: int
) -> dict[str, Any]:
    i = db.inspections
    query = (
        sa.select(i, db.targets.c.name)
        .join(db.targets, db.targets.c.uscc == i.c.target_uscc, isouter=True)
        .where(i.c.status == "completed")
        .order_by(i.c.completed_at.desc())
        .limit(limit)
        .offset(offset)
    )
    if organisation:
        query = query.where(i.c.target_uscc == organisation)
    if since:
        query = query.where(i.c.completed_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if until:
        query = query.where(i.c.completed_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {
        "items": [
            {"inspection_id": r.id, "target_uscc": r.target_uscc, "target_name": r.name, "target_kind": r.target_kind,
             "kind": r.kind, "date": r.completed_at.date().isoformat(), "outcome": r.outcome,
             "findings_summary": (r.findings or "")[:300]}
            for r in rows
        ]
    }
