"""Use cases of approval: each opens one unit of work, asks the domain, saves the change,
its history and its events together."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
import structlog

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import Conflict, Forbidden, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from approval import db
from approval.calendar import WorkingCalendar
from approval.domain import (
    Application,
    ApplicationRefused,
    ApplicationStatus,
    Approval,
    ApprovalAction,
    ApprovalStatus,
    Catalogue,
    HistoryEntry,
    Rules,
    Verification,
    VerificationStatus,
)

log = structlog.get_logger("approval")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rules(runtime: ServiceRuntime) -> Rules:
    s = runtime.settings
    return Rules(
        min_staff_per_field=s.min_staff_per_field,
        min_registered_capital_rmb=s.min_registered_capital_rmb,
        standard_decision_working_days=s.standard_decision_working_days,
        verification_days=s.verification_days,
    )


def _calendar(runtime: ServiceRuntime) -> WorkingCalendar:
    return WorkingCalendar.china_2026().with_holidays(runtime.settings.public_holidays)


def _catalogue(runtime: ServiceRuntime) -> Catalogue:
    return runtime.extras.setdefault("catalogue", Catalogue.default())


def catalogue_view(runtime: ServiceRuntime) -> dict[str, Any]:
    return {
        "fields": [
            {"code": f.code, "name": f.name, "risk": f.risk.value, "kind": f.kind.value} for f in _catalogue(runtime)
        ]
    }


# --- mapping rows <-> aggregates ---------------------------------------------------------


def _application(row: Any) -> Application:
    return Application(
        id=row.id, organisation_uscc=row.organisation_uscc, organisation_name=row.organisation_name, kind=row.kind,
        path=row.path, requested_fields=tuple(row.requested_fields), declared=row.declared,
        commitment_text=row.commitment_text, submitted_at=row.submitted_at, status=row.status,
        failed_rules=list(row.failed_rules),
        accepted_on=row.accepted_on, decision_due=row.decision_due, decided_at=row.decided_at,
        decided_by=row.decided_by, decision_reasons=list(row.decision_reasons), approval_id=row.approval_id,
    )


def _application_values(app: Application) -> dict[str, Any]:
    return dict(
        organisation_uscc=app.organisation_uscc, organisation_name=app.organisation_name, kind=app.kind.value,
        path=app.path.value, requested_fields=list(app.requested_fields), declared=app.declared.as_dict(),
        commitment_text=app.commitment_text, status=app.status.value,
        failed_rules=[f.as_dict() for f in app.failed_rules], submitted_at=app.submitted_at,
        accepted_on=app.accepted_on, decision_due=app.decision_due, decided_at=app.decided_at,
        decided_by=app.decided_by, decision_reasons=list(app.decision_reasons), approval_id=app.approval_id,
    )


def _approval(row: Any) -> Approval:
    return Approval(
        id=row.id, organisation_uscc=row.organisation_uscc, organisation_name=row.organisation_name, kind=row.kind,
        path=row.path, fields=frozenset(row.fields), application_id=row.application_id, granted_at=row.granted_at,
        status=row.status, suspended_fields=frozenset(row.suspended_fields),
    )


async def _load_application(uow: UnitOfWork, application_id: str, principal: Principal) -> Application:
    row = (
        await uow.session.execute(sa.select(db.applications).where(db.applications.c.id == application_id).with_for_update())
    ).first()
    # Another agency's application answers exactly as a missing one.
    if row is None or (principal.role is Role.AGENCY and row.organisation_uscc != principal.org):
        raise NotFound(f"application {application_id} not found", field="application_id")
    return _application(row)


async def _save_application(uow: UnitOfWork, app: Application, *, new: bool = False) -> None:
    values = _application_values(app)
    if new:
        await uow.session.execute(sa.insert(db.applications).values(id=app.id, **values))
    else:
        await uow.session.execute(sa.update(db.applications).where(db.applications.c.id == app.id).values(**values))


async def _load_approval(uow: UnitOfWork, approval_id: str) -> Approval | None:
    row = (
        await uow.session.execute(sa.select(db.approvals).where(db.approvals.c.id == approval_id).with_for_update())
    ).first()
    return _approval(row) if row else None


async def _save_approval(uow: UnitOfWork, approval: Approval, *, new: bool = False) -> None:
    values = dict(
        organisation_uscc=approval.organisation_uscc, organisation_name=approval.organisation_name,
        kind=approval.kind.value, path=approval.path.value, status=approval.status.value,
        fields=sorted(approval.fields), suspended_fields=sorted(approval.suspended_fields),
        application_id=approval.application_id, granted_at=approval.granted_at, updated_at=_now(),
    )
    if new:
        await uow.session.execute(sa.insert(db.approvals).values(id=approval.id, **values))
    else:
        await uow.session.execute(sa.update(db.approvals).where(db.approvals.c.id == approval.id).values(**values))
    if approval.history:
        await uow.session.execute(
            sa.insert(db.approval_history),
            [
                dict(approval_id=approval.id, from_status=h.from_status.value if h.from_status else None,
                     to_status=h.to_status.value, fields=list(h.fields), reason=h.reason, actor=h.actor,
                     cause_event_id=h.cause_event_id, at=h.at)
                for h in approval.history
            ],
        )
    for entry in approval.history:
        uow.emit(_event_for(approval, entry))
    approval.history.clear()


def _event_for(approval: Approval, entry: HistoryEntry) -> events.Event:
    common = dict(approval_id=approval.id, organisation_uscc=approval.organisation_uscc, kind=approval.kind.value)
    match entry.action:
        case ApprovalAction.GRANTED:
            return events.ApprovalGrantedV1(
                **common, organisation_name=approval.organisation_name, fields=sorted(approval.fields),
                path=approval.path.value, granted_at=approval.granted_at,
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


# --- applications ------------------------------------------------------------------------


async def apply(runtime: ServiceRuntime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    if body["organisation_uscc"] != principal.org:
        raise Forbidden("an agency applies only for its own organisation (organisation_uscc must be the token's)")
    at = _now()
    app = Application.submit(
        id=str(uuid.uuid4()), organisation_uscc=body["organisation_uscc"], organisation_name=body["organisation_name"],
        kind=body["kind"], path=body["path"], requested_fields=body["requested_fields"], declared=body["declared"],
        commitment_text=body.get("commitment_text"), at=at,
    )
    refusal: ApplicationRefused | None = None
    async with runtime.unit_of_work() as uow:
        approval = verification = None
        if app.path.value == "commitment":
            try:
                approval, verification = app.grant_on_the_spot(
                    _catalogue(runtime), _rules(runtime), approval_id=str(uuid.uuid4()),
                    verification_id=str(uuid.uuid4()), at=at,
                )
            except ApplicationRefused as exc:
                refusal = exc  # kept, so that the agency can read why, then answered as 422
        await _save_application(uow, app, new=True)
        if approval is not None and verification is not None:
            await _save_approval(uow, approval, new=True)
            await uow.session.execute(
                sa.insert(db.verifications).values(
                    id=verification.id, approval_id=approval.id, organisation_uscc=approval.organisation_uscc,
                    due=verification.due, status=verification.status.value,
                )
            )
        await uow.commit()
    if refusal is not None:
        refusal.message = f"{refusal.message} (application {app.id} is kept as refused)"
        raise refusal
    return await get_application(runtime, principal, app.id)


async def accept(runtime: ServiceRuntime, principal: Principal, application_id: str) -> dict[str, Any]:
    refusal: ApplicationRefused | None = None
    async with runtime.unit_of_work() as uow:
        app = await _load_application(uow, application_id, principal)
        try:
            app.accept(_catalogue(runtime), _rules(runtime), on=dt.date.today(), calendar=_calendar(runtime))
        except ApplicationRefused as exc:
            refusal = exc
        await _save_application(uow, app)
        await uow.commit()
    if refusal is not None:
        raise refusal
    return await get_application(runtime, principal, application_id)


async def decide(runtime: ServiceRuntime, principal: Principal, application_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        app = await _load_application(uow, application_id, principal)
        at = _now()
        if body["decision"] == "grant":
            fields = body.get("granted_fields") or list(app.requested_fields)
            approval = app.grant(
                fields, _catalogue(runtime), _rules(runtime), approval_id=str(uuid.uuid4()), at=at,
                actor=principal.actor, reasons=body.get("reasons") or [],
            )
            await _save_approval(uow, approval, new=True)
        else:
            app.reject(body["reasons"], at=at, actor=principal.actor)
        await _save_application(uow, app)
        await uow.commit()
    return await get_application(runtime, principal, application_id)


def _application_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "organisation_uscc": row.organisation_uscc, "organisation_name": row.organisation_name,
        "kind": row.kind, "path": row.path, "requested_fields": row.requested_fields, "status": row.status,
        "failed_rules": row.failed_rules, "submitted_at": row.submitted_at.isoformat(),
        "accepted_on": row.accepted_on.isoformat() if row.accepted_on else None,
        "decision_due": row.decision_due.isoformat() if row.decision_due else None,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decision_reasons": row.decision_reasons, "approval_id": row.approval_id,
    }


async def get_application(runtime: ServiceRuntime, principal: Principal, application_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.applications).where(db.applications.c.id == application_id))).first()
    if row is None or (principal.role is Role.AGENCY and row.organisation_uscc != principal.org):
        raise NotFound(f"application {application_id} not found", field="application_id")
    view = _application_view(row)
    if row.approval_id:
        view["approval"] = await get_approval(runtime, principal, row.approval_id)
    return view


async def list_applications(
    runtime: ServiceRuntime, principal: Principal, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query = sa.select(db.applications).order_by(db.applications.c.submitted_at.desc()).limit(limit).offset(offset)
    if principal.role is Role.AGENCY:
        query = query.where(db.applications.c.organisation_uscc == principal.org)
    if status:
        query = query.where(db.applications.c.status == status)
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {"items": [_application_view(r) for r in rows]}


async def overdue(runtime: ServiceRuntime, today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.date.today()
    async with runtime.sessions() as session:
        apps = (
            await session.execute(
                sa.select(db.applications)
                .where(db.applications.c.status == ApplicationStatus.ACCEPTED.value)
                .where(db.applications.c.decision_due < today)
                .order_by(db.applications.c.decision_due)
            )
        ).all()
        checks = (
            await session.execute(
                sa.select(db.verifications)
                .where(db.verifications.c.status == VerificationStatus.SCHEDULED.value)
                .where(db.verifications.c.due < today)
                .order_by(db.verifications.c.due)
            )
        ).all()
    return {
        "applications": [_application_view(r) for r in apps],
        "verifications": [_verification_view(v) for v in checks],
    }


# --- approvals ------------------------------------------------------------------------------


async def get_approval(runtime: ServiceRuntime, principal: Principal, approval_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.approvals).where(db.approvals.c.id == approval_id))).first()
        if row is None or (principal.role is Role.AGENCY and row.organisation_uscc != principal.org):
            raise NotFound(f"approval {approval_id} not found", field="approval_id")
        history = (
            await session.execute(
                sa.select(db.approval_history).where(db.approval_history.c.approval_id == approval_id).order_by(db.approval_history.c.id)
            )
        ).all()
        checks = (await session.execute(sa.select(db.verifications).where(db.verifications.c.approval_id == approval_id))).all()
    return {
        "id": row.id, "organisation_uscc": row.organisation_uscc, "organisation_name": row.organisation_name,
        "kind": row.kind, "path": row.path, "status": row.status, "fields": row.fields,
        "suspended_fields": row.suspended_fields, "granted_at": row.granted_at.isoformat(),
        "history": [
            {"from": h.from_status, "to": h.to_status, "fields": h.fields, "reason": h.reason, "actor": h.actor,
             "cause_event_id": h.cause_event_id, "at": h.at.isoformat()}
            for h in history
        ],
        "verifications": [_verification_view(v) for v in checks],
    }


async def list_approvals(runtime: ServiceRuntime, principal: Principal, organisation_uscc: str | None) -> dict[str, Any]:
    query = sa.select(db.approvals.c.id).order_by(db.approvals.c.granted_at)
    if principal.role is Role.AGENCY:
        query = query.where(db.approvals.c.organisation_uscc == principal.org)
    if organisation_uscc:
        query = query.where(db.approvals.c.organisation_uscc == organisation_uscc)
    async with runtime.sessions() as session:
        ids = list((await session.execute(query.limit(500))).scalars())
    return {"items": [await get_approval(runtime, principal, i) for i in ids]}


async def change(
    runtime: ServiceRuntime, principal: Principal, approval_id: str, action: str, reason: str, fields: list[str]
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        approval = await _load_approval(uow, approval_id)
        if approval is None:
            raise NotFound(f"approval {approval_id} not found", field="approval_id")
        at, actor = _now(), principal.actor
        match action:
            case "suspend":
                approval.suspend(reason, at=at, fields=fields or None, actor=actor)
            case "reinstate":
                approval.reinstate(reason, at=at, fields=fields or None, actor=actor)
            case "reduce":
                approval.reduce_scope(fields, reason, at=at, actor=actor)
            case "revoke":
                approval.revoke(reason, at=at, actor=actor)
        await _save_approval(uow, approval)
        await uow.commit()
    return await get_approval(runtime, principal, approval_id)


# --- post-approval verification ----------------------------------------------------------------


def _verification_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "approval_id": row.approval_id, "organisation_uscc": row.organisation_uscc,
        "due": row.due.isoformat(), "status": row.status, "inspector_id": row.inspector_id,
        "findings": row.findings, "recorded_at": row.recorded_at.isoformat() if row.recorded_at else None,
    }


async def _load_verification(uow: UnitOfWork, verification_id: str) -> Any:
    row = (
        await uow.session.execute(sa.select(db.verifications).where(db.verifications.c.id == verification_id).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"verification {verification_id} not found", field="verification_id")
    return row


async def assign_verification(runtime: ServiceRuntime, principal: Principal, verification_id: str, inspector_id: str) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        row = await _load_verification(uow, verification_id)
        if row.status != VerificationStatus.SCHEDULED.value:
            raise Conflict(f"verification {verification_id} is already {row.status}", field="verification_id")
        await uow.session.execute(
            sa.update(db.verifications).where(db.verifications.c.id == verification_id).values(inspector_id=inspector_id)
        )
        await uow.commit()
        row = await _load_verification(uow, verification_id)
    return _verification_view(row)


async def record_verification(
    runtime: ServiceRuntime, principal: Principal, verification_id: str, outcome: str, findings: str
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        row = await _load_verification(uow, verification_id)
        if row.inspector_id != principal.inspector_id:
            raise Forbidden(f"inspector {principal.inspector_id} is not assigned to verification {verification_id}")
        verification = Verification(
            id=row.id, approval_id=row.approval_id, organisation_uscc=row.organisation_uscc, due=row.due,
            status=row.status, inspector_id=row.inspector_id,
        )
        approval = await _load_approval(uow, row.approval_id)
        at = _now()
        if outcome == "confirmed":
            verification.confirm(inspector_id=principal.inspector_id, findings=findings, at=at)
        else:
            verification.record_breach(approval, inspector_id=principal.inspector_id, findings=findings, at=at)
            await uow.session.execute(
                sa.insert(db.credit_sanctions).values(
                    id=str(uuid.uuid4()), organisation_uscc=approval.organisation_uscc,
                    reason=f"commitment breached: {findings}", verification_id=verification.id, at=at,
                )
            )
            # The breach first (credit sanction), then the revocation it causes.
            uow.emit(
                events.CommitmentBreachedV1(
                    approval_id=approval.id, organisation_uscc=approval.organisation_uscc, kind=approval.kind.value,
                    verification_id=verification.id, findings=findings,
                )
            )
            await _save_approval(uow, approval)
        await uow.session.execute(
            sa.update(db.verifications).where(db.verifications.c.id == verification_id).values(
                status=verification.status.value, findings=verification.findings, recorded_at=verification.recorded_at
            )
        )
        await uow.commit()
        row = await _load_verification(uow, verification_id)
    return _verification_view(row)


# --- reactions to events -------------------------------------------------------------------------


async def _active_approvals_of(uow: UnitOfWork, uscc: str) -> list[Approval]:
    rows = (
        await uow.session.execute(
            sa.select(db.approvals)
            .where(db.approvals.c.organisation_uscc == uscc)
            .where(db.approvals.c.status != ApprovalStatus.REVOKED.value)
            .with_for_update()
        )
    ).all()
    return [_approval(r) for r in rows]


async def suspend_after_failed_inspection(uow: UnitOfWork, event: events.InspectionFailedV1) -> None:
    """A failed inspection of a body or lab suspends its approval (whole)."""
    for approval in await _active_approvals_of(uow, event.target_uscc):
        if approval.status is ApprovalStatus.SUSPENDED:
            continue
        approval.suspend(
            f"inspection {event.inspection_id} failed: {event.findings}", at=_now(), cause_event_id=uow.cause_event_id
        )
        await _save_approval(uow, approval)


async def suspend_lab_field(uow: UnitOfWork, event: events.LabFieldSuspensionRequiredV1) -> None:
    """DESIGN flow 4: that field of the lab's qualification is suspended."""
    for approval in await _active_approvals_of(uow, event.lab_uscc):
        if event.field not in approval.fields or event.field in approval.suspended_fields:
            continue
        approval.suspend(
            f"proficiency: {event.reason}", at=_now(), fields=[event.field], cause_event_id=uow.cause_event_id
        )
        await _save_approval(uow, approval)
