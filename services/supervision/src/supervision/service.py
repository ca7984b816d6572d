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
from conformity_shared.errors import Conflict, DomainError, NotFound
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
            sa.insert(db.targets).values(
                uscc=uscc, kind=kind, name=name, credit_class="A", clean_since=_now(), updated_at=_now()
            )
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


def credit_policy(runtime_settings: Any) -> domain.CreditPolicy:
    return domain.CreditPolicy(clean_period=dt.timedelta(days=runtime_settings.credit_clean_days))


async def _standing(uow: UnitOfWork, uscc: str) -> domain.CreditStanding:
    row = (await uow.session.execute(sa.select(db.targets).where(db.targets.c.uscc == uscc).with_for_update())).first()
    if row is None:
        # A failure may arrive before the organisation's own event; list it so the failure counts.
        await _upsert_target(uow, uscc, "unknown", uscc)
        return domain.CreditStanding.new(uscc, _now())
    return domain.CreditStanding(uscc, domain.CreditClass(row.credit_class), row.clean_since)


async def _apply_failure(uow: UnitOfWork, failure: domain.Failure, uscc: str, policy: domain.CreditPolicy) -> None:
    standing, change = (await _standing(uow, uscc)).record_failure(failure, policy)
    await _save_standing(uow, standing, change)


async def _save_standing(uow: UnitOfWork, standing: domain.CreditStanding, change: domain.CreditChange | None) -> None:
    await uow.session.execute(
        sa.update(db.targets).where(db.targets.c.uscc == standing.organisation).values(
            credit_class=standing.credit_class.value, clean_since=standing.clean_since, updated_at=_now()
        )
    )
    if change is None:
        return
    cause = change.cause + (f" ({change.reference})" if change.reference else "")
    await uow.session.execute(
        sa.insert(db.credit_changes).values(
            organisation_uscc=change.organisation, previous=change.previous.value, current=change.current.value,
            cause=cause, cause_event_id=uow.cause_event_id, at=change.at,
        )
    )
    uow.emit(
        events.CreditClassChangedV1(
            organisation_uscc=change.organisation, previous=change.previous, current=change.current, cause=cause
        )
    )


def lower_credit_for_breached_commitment(policy: domain.CreditPolicy):  # noqa: ANN201
    async def handle(uow: UnitOfWork, event: events.CommitmentBreachedV1) -> None:
        failure = domain.Failure(domain.FailureKind.COMMITMENT_BREACHED, event.verification_id, _now())
        await _apply_failure(uow, failure, event.organisation_uscc, policy)

    return handle


def lower_credit_for_lab_failure(policy: domain.CreditPolicy):  # noqa: ANN201
    async def handle(uow: UnitOfWork, event: events.LabFailureV1) -> None:
        failure = domain.Failure(domain.FailureKind.LAB_FAILURE, f"{event.field}:{event.reference_id}", _now())
        await _apply_failure(uow, failure, event.lab_uscc, policy)

    return handle


async def restore_clean_credit(runtime: ServiceRuntime, now: dt.datetime | None = None) -> int:
    """Raise by one class every organisation whose clean period has run (never above A)."""
    now = now or _now()
    policy = credit_policy(runtime.settings)
    restored = 0
    async with runtime.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                sa.select(db.targets.c.uscc, db.targets.c.credit_class, db.targets.c.clean_since)
                .where(db.targets.c.credit_class != "A")
                .where(db.targets.c.clean_since <= now - policy.clean_period)
            )
        ).all()
        for row in rows:
            standing = domain.CreditStanding(row.uscc, domain.CreditClass(row.credit_class), row.clean_since)
            while True:
                standing, change = standing.restore_if_clean(now, policy)
                if change is None:
                    break
                await _save_standing(uow, standing, change)
                restored += 1
        await uow.commit()
    return restored


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
        await _check_inspectors(uow, body["inspector_ids"], body["target_uscc"])
        inspection_id = str(uuid.uuid4())
        if body["kind"] == domain.InspectionKind.RE_INSPECTION:
            spot_check = await _load_inspection(uow, body["spot_check_id"], field="spot_check_id")
            if spot_check.target_id != body["target_uscc"]:
                raise DomainError("a re-inspection targets the enterprise of its spot check", field="target_uscc")
            inspection = domain.Inspection.re_inspection_of(spot_check, inspection_id, body["inspector_ids"])
        else:
            inspection = domain.Inspection(
                id=inspection_id, kind=body["kind"], target_id=body["target_uscc"], target_kind=body["target_kind"],
                inspector_ids=frozenset(body["inspector_ids"]),
            )
        await _create_inspection(uow, inspection, campaign_id=None)
        await uow.commit()
    return await get_inspection(runtime, principal, inspection_id)


async def _check_inspectors(uow: UnitOfWork, inspector_ids: list[str], target: str) -> None:
    rows = (await uow.session.execute(sa.select(db.inspectors).where(db.inspectors.c.id.in_(inspector_ids)))).all()
    found = {i.id: i for i in rows}
    for inspector_id in inspector_ids:
        if inspector_id not in found:
            raise DomainError(f"inspector {inspector_id} is not registered", field="inspector_ids")
        if not found[inspector_id].active:
            raise DomainError(f"inspector {inspector_id} is not active", field="inspector_ids")
        if found[inspector_id].organisation == target:
            raise DomainError(f"inspector {inspector_id} works for the target (conflict of interest)", field="inspector_ids")


async def _create_inspection(uow: UnitOfWork, inspection: domain.Inspection, campaign_id: str | None) -> None:
    await uow.session.execute(
        sa.insert(db.inspections).values(
            id=inspection.id, campaign_id=campaign_id, target_uscc=inspection.target_id,
            target_kind=inspection.target_kind.value, kind=inspection.kind.value, spot_check_id=inspection.spot_check_id,
            certificates_to_verify=list(inspection.certificates_to_verify), status="assigned", samples=[],
            created_at=_now(),
        )
    )
    await uow.session.execute(
        sa.insert(db.inspection_assignments),
        [{"inspection_id": inspection.id, "inspector_id": i} for i in sorted(inspection.inspector_ids)],
    )


async def _assigned(session: Any, inspection_id: str) -> list[str]:
    return list(
        (
            await session.execute(
                sa.select(db.inspection_assignments.c.inspector_id)
                .where(db.inspection_assignments.c.inspection_id == inspection_id)
                .order_by(db.inspection_assignments.c.inspector_id)
            )
        ).scalars()
    )


def _to_domain(row: Any, assigned: list[str]) -> domain.Inspection:
    result = None
    if row.verdict:
        result = domain.InspectionResult(
            inspector_id=row.recorded_by, verdict=domain.Verdict(row.verdict), findings=row.findings or "",
            recorded_at=row.completed_at,
            samples=tuple(domain.SampleResult(s["certificate_number"], s["passed"], s.get("finding") or "") for s in row.samples),
        )
    return domain.Inspection(
        id=row.id, kind=row.kind, target_id=row.target_uscc, target_kind=row.target_kind,
        inspector_ids=frozenset(assigned), result=result, spot_check_id=row.spot_check_id,
        certificates_to_verify=tuple(row.certificates_to_verify),
    )


async def _load_inspection(uow: UnitOfWork, inspection_id: str, field: str = "inspection_id") -> domain.Inspection:
    row = (await uow.session.execute(sa.select(db.inspections).where(db.inspections.c.id == inspection_id))).first()
    if row is None:
        raise NotFound(f"inspection {inspection_id} not found", field=field)
    return _to_domain(row, await _assigned(uow.session, inspection_id))


def _inspection_view(row: Any, assigned: list[str]) -> dict[str, Any]:
    return {
        "id": row.id, "campaign_id": row.campaign_id, "target_uscc": row.target_uscc, "target_kind": row.target_kind,
        "kind": row.kind, "spot_check_id": row.spot_check_id, "certificates_to_verify": row.certificates_to_verify,
        "status": row.status, "verdict": row.verdict, "findings": row.findings, "samples": row.samples,
        "inspectors": assigned, "created_at": row.created_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
    }


async def get_inspection(runtime: ServiceRuntime, principal: Principal, inspection_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.inspections).where(db.inspections.c.id == inspection_id))).first()
        assigned = await _assigned(session, inspection_id) if row else []
    if row is None or (principal.role is Role.INSPECTOR and principal.inspector_id not in assigned):
        raise NotFound(f"inspection {inspection_id} not found", field="inspection_id")
    return _inspection_view(row, assigned)


async def record_result(
    runtime: ServiceRuntime, principal: Principal, inspection_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        inspection = await _load_inspection(uow, inspection_id)
        if principal.inspector_id not in inspection.inspector_ids:
            # Checked before anything else so an unassigned inspector learns nothing of the inspection.
            raise domain.NotAssignedInspector(principal.inspector_id or "?", inspection_id)
        at = _now()
        if inspection.kind is domain.InspectionKind.PRODUCT_SPOT_CHECK:
            samples = [domain.SampleResult(s["certificate_number"], s["passed"], s.get("finding") or "") for s in body["samples"]]
            recorded = inspection.record_spot_check(principal.inspector_id, samples, body["findings"], at)
            if body["verdict"] and body["verdict"] != recorded.inspection.result.verdict:
                raise DomainError(
                    f"verdict {body['verdict']} contradicts the sample results ({recorded.inspection.result.verdict})",
                    field="verdict",
                )
        else:
            if not body["verdict"]:
                raise DomainError("verdict (pass or fail) is required for this inspection", field="verdict")
            if body["samples"]:
                raise DomainError("sample results belong to product spot checks only", field="samples")
            recorded = inspection.record_result(principal.inspector_id, body["verdict"], body["findings"], at)
        result = recorded.inspection.result
        changed = await uow.session.execute(
            sa.update(db.inspections)
            .where(db.inspections.c.id == inspection_id)
            .where(db.inspections.c.status == "assigned")
            .values(
                status="completed", verdict=result.verdict.value, findings=result.findings,
                samples=[{"certificate_number": s.certificate_number, "passed": s.passed, "finding": s.finding} for s in result.samples],
                completed_at=at, recorded_by=principal.inspector_id,
            )
        )
        if changed.rowcount != 1:
            raise domain.ResultAlreadyRecorded(inspection_id)
        for fact in recorded.consequences:
            uow.emit(_event_for(fact))
        if recorded.credit_failure is not None:
            await _apply_failure(uow, recorded.credit_failure, inspection.target_id, credit_policy(runtime.settings))
        await uow.commit()
    return await get_inspection(runtime, principal, inspection_id)


def _event_for(fact: domain.Consequence) -> events.Event:
    match fact:
        case domain.SpotCheckFailed():
            return events.SpotCheckFailedV1(
                inspection_id=fact.inspection_id, holder_uscc=fact.holder_id,
                certificate_numbers=list(fact.certificate_numbers), findings=fact.findings,
            )
        case domain.RectificationVerified():
            return events.RectificationVerifiedV1(
                inspection_id=fact.inspection_id, spot_check_id=fact.spot_check_id, holder_uscc=fact.holder_id,
                certificate_numbers=list(fact.certificate_numbers),
            )
        case domain.InspectionFailed():
            return events.InspectionFailedV1(
                inspection_id=fact.inspection_id, target_uscc=fact.target_id, target_kind=fact.target_kind,
                findings=fact.findings,
            )
    raise AssertionError(f"no event for {fact!r}")


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
             "kind": r.kind, "date": r.completed_at.date().isoformat(), "verdict": r.verdict,
             "findings_summary": (r.findings or "")[:300]}
            for r in rows
        ]
    }
