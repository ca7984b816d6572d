"""Use cases of approval: each opens one unit of work, asks the domain, saves the change,
its history and its events together.

Object-level authorization lives here, where the object is known: an agency sees only
its own applications and approvals (another's answers 404, exactly like a missing one),
and only the inspector assigned to a verification records it (403). Which roles may call
a use case at all is declared on the route.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import sqlalchemy as sa
import structlog

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import Forbidden, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from approval import db
from approval.domain import (
    Application,
    ApplicationRefused,
    ApplicationStatus,
    Approval,
    ApprovalAction,
    ApprovalStatus,
    HistoryEntry,
    Kind,
    Path,
    Verification,
    VerificationStatus,
)
from approval.policy import Policy

log = structlog.get_logger("approval")

LifecycleAction = Literal["suspend", "reinstate", "reduce", "revoke"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    return dt.date.today()


def _policy(runtime: ServiceRuntime) -> Policy:
    return runtime.context


def catalogue_view(runtime: ServiceRuntime) -> dict[str, Any]:
    return {
        "fields": [
            {"code": f.code, "name": f.name, "risk": f.risk.value, "kind": f.kind.value}
            for f in _policy(runtime).catalogue
        ]
    }


def _is_others(principal: Principal, organisation_uscc: str) -> bool:
    """True when an agency asks about another organisation's object."""
    return principal.role is Role.AGENCY and organisation_uscc != (principal.org or "").upper()


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


def _verification(row: Any) -> Verification:
    return Verification(
        id=row.id, approval_id=row.approval_id, organisation_uscc=row.organisation_uscc, due=row.due,
        status=row.status, inspector_id=row.inspector_id, findings=row.findings, recorded_at=row.recorded_at,
    )


async def _load_application(uow: UnitOfWork, application_id: str, principal: Principal) -> Application:
    row = (
        await uow.session.execute(
            sa.select(db.applications).where(db.applications.c.id == application_id).with_for_update()
        )
    ).first()
    # Another agency's application answers exactly as a missing one.
    if row is None or _is_others(principal, row.organisation_uscc):
        raise NotFound(f"application {application_id} not found", field="application_id")
    return _application(row)


async def _save_application(uow: UnitOfWork, app: Application, *, new: bool = False) -> None:
    values = _application_values(app)
    if new:
        await uow.session.execute(sa.insert(db.applications).values(id=app.id, **values))
    else:
        await uow.session.execute(sa.update(db.applications).where(db.applications.c.id == app.id).values(**values))


async def _load_approval(uow: UnitOfWork, approval_id: str) -> Approval:
    row = (
        await uow.session.execute(sa.select(db.approvals).where(db.approvals.c.id == approval_id).with_for_update())
    ).first()
    if row is None:
        raise NotFound(f"approval {approval_id} not found", field="approval_id")
    return _approval(row)


async def _save_approval(uow: UnitOfWork, approval: Approval, *, new: bool = False) -> None:
    """Write the approval, append its new history entries and emit one event per entry."""
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
                dict(approval_id=approval.id, action=h.action.value,
                     from_status=h.from_status.value if h.from_status else None, to_status=h.to_status.value,
                     fields=list(h.fields), reason=h.reason, actor=h.actor, cause_event_id=h.cause_event_id, at=h.at)
                for h in approval.history
            ],
        )
    for entry in approval.history:
        uow.emit(_event_for(approval, entry))
    approval.history.clear()


async def _save_verification(uow: UnitOfWork, verification: Verification, *, new: bool = False) -> None:
    values = dict(
        approval_id=verification.approval_id, organisation_uscc=verification.organisation_uscc,
        due=verification.due, status=verification.status.value, inspector_id=verification.inspector_id,
        findings=verification.findings, recorded_at=verification.recorded_at,
    )
    if new:
        await uow.session.execute(sa.insert(db.verifications).values(id=verification.id, **values))
    else:
        await uow.session.execute(
            sa.update(db.verifications).where(db.verifications.c.id == verification.id).values(**values)
        )


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
    """Submit an application; on the commitment path it is granted or refused at once.

    A refused application is kept (the agency can read every failed rule later) and the
    refusal answers 422 with the rules and the application's id.
    """
    if _is_others(principal, body["organisation_uscc"]):
        raise Forbidden("an agency applies only for its own organisation (organisation_uscc must be the token's)")
    policy, at = _policy(runtime), _now()
    app = Application.submit(
        id=str(uuid.uuid4()), organisation_uscc=body["organisation_uscc"], organisation_name=body["organisation_name"],
        kind=body["kind"], path=body["path"], requested_fields=body["requested_fields"], declared=body["declared"],
        commitment_text=body.get("commitment_text"), at=at,
    )
    refusal: ApplicationRefused | None = None
    async with runtime.unit_of_work() as uow:
        approval = verification = None
        if app.path is Path.COMMITMENT:
            try:
                approval, verification = app.grant_on_the_spot(
                    policy.catalogue, policy.rules, approval_id=str(uuid.uuid4()),
                    verification_id=str(uuid.uuid4()), at=at, on=at.date(),
                )
            except ApplicationRefused as exc:
                refusal = exc
        await _save_application(uow, app, new=True)
        if approval is not None and verification is not None:
            await _save_approval(uow, approval, new=True)
            await _save_verification(uow, verification, new=True)
        await uow.commit()
    if refusal is not None:
        refusal.application_id = app.id
        raise refusal
    log.info("application submitted", application_id=app.id, path=app.path.value, status=app.status.value)
    return await get_application(runtime, principal, app.id)


async def accept(runtime: ServiceRuntime, principal: Principal, application_id: str) -> dict[str, Any]:
    """Accept a complete standard-path application; the decision is due 20 working days later."""
    policy = _policy(runtime)
    refusal: ApplicationRefused | None = None
    async with runtime.unit_of_work() as uow:
        app = await _load_application(uow, application_id, principal)
        try:
            app.accept(policy.catalogue, policy.rules, on=_today(), at=dt.datetime.combine(_today(), dt.time(), dt.UTC),
                       calendar=policy.calendar)
        except ApplicationRefused as exc:
            refusal = exc  # kept as refused with what is missing, then answered as 422
        await _save_application(uow, app)
        await uow.commit()
    if refusal is not None:
        refusal.application_id = application_id
        raise refusal
    return await get_application(runtime, principal, application_id)


async def decide(runtime: ServiceRuntime, principal: Principal, application_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A regulator grants an accepted application (all or some fields) or rejects it with reasons."""
    policy = _policy(runtime)
    async with runtime.unit_of_work() as uow:
        app = await _load_application(uow, application_id, principal)
        at = _now()
        if body["decision"] == "grant":
            fields = body.get("granted_fields") or list(app.requested_fields)
            approval = app.grant(
                fields, policy.catalogue, policy.rules, approval_id=str(uuid.uuid4()), at=at,
                actor=principal.actor, reasons=body.get("reasons") or [],
            )
            await _save_approval(uow, approval, new=True)
        else:
            app.reject(body.get("reasons") or [], at=at, actor=principal.actor)
        await _save_application(uow, app)
        await uow.commit()
    return await get_application(runtime, principal, application_id)


def _application_view(row: Any, today: dt.date | None = None, policy: Policy | None = None) -> dict[str, Any]:
    view = {
        "id": row.id, "organisation_uscc": row.organisation_uscc, "organisation_name": row.organisation_name,
        "kind": row.kind, "path": row.path, "requested_fields": row.requested_fields, "declared": row.declared,
        "status": row.status, "failed_rules": row.failed_rules, "submitted_at": row.submitted_at.isoformat(),
        "accepted_on": row.accepted_on.isoformat() if row.accepted_on else None,
        "decision_due": row.decision_due.isoformat() if row.decision_due else None,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decided_by": row.decided_by, "decision_reasons": row.decision_reasons, "approval_id": row.approval_id,
    }
    if today is not None and policy is not None and row.status == ApplicationStatus.ACCEPTED.value and row.decision_due:
        view["working_days_left"] = policy.calendar.working_days_between(today, row.decision_due)
        view["overdue"] = today > row.decision_due
    return view


async def get_application(runtime: ServiceRuntime, principal: Principal, application_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.applications).where(db.applications.c.id == application_id))).first()
    if row is None or _is_others(principal, row.organisation_uscc):
        raise NotFound(f"application {application_id} not found", field="application_id")
    view = _application_view(row, _today(), _policy(runtime))
    if row.approval_id:
        view["approval"] = await get_approval(runtime, principal, row.approval_id)
    return view


async def list_applications(
    runtime: ServiceRuntime, principal: Principal, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query = sa.select(db.applications).order_by(db.applications.c.submitted_at.desc()).limit(limit).offset(offset)
    if principal.role is Role.AGENCY:
        query = query.where(db.applications.c.organisation_uscc == (principal.org or "").upper())
    if status:
        query = query.where(db.applications.c.status == status)
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {"items": [_application_view(r, _today(), _policy(runtime)) for r in rows]}


async def overdue(runtime: ServiceRuntime, today: dt.date | None = None) -> dict[str, Any]:
    """Accepted standard-path applications past their decision deadline, and scheduled
    post-approval verifications past their due date; an act on the deadline day is on time."""
    today = today or _today()
    async with runtime.sessions() as session:
        apps = (
            await session.execute(
                sa.select(db.applications)
                .where(db.applications.c.status == ApplicationStatus.ACCEPTED.value)
                .where(db.applications.c.decision_due < today)
                .order_by(db.applications.c.decision_due, db.applications.c.id)
            )
        ).all()
        checks = (
            await session.execute(
                sa.select(db.verifications)
                .where(db.verifications.c.status == VerificationStatus.SCHEDULED.value)
                .where(db.verifications.c.due < today)
                .order_by(db.verifications.c.due, db.verifications.c.id)
            )
        ).all()
    return {
        "as_of": today.isoformat(),
        "applications": [_application_view(r, today, _policy(runtime)) for r in apps],
        "verifications": [_verification_view(v) for v in checks],
    }


# --- approvals ------------------------------------------------------------------------------


async def get_approval(runtime: ServiceRuntime, principal: Principal, approval_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.approvals).where(db.approvals.c.id == approval_id))).first()
        if row is None or _is_others(principal, row.organisation_uscc):
            raise NotFound(f"approval {approval_id} not found", field="approval_id")
        history = (
            await session.execute(
                sa.select(db.approval_history)
                .where(db.approval_history.c.approval_id == approval_id)
                .order_by(db.approval_history.c.id)
            )
        ).all()
        checks = (
            await session.execute(sa.select(db.verifications).where(db.verifications.c.approval_id == approval_id))
        ).all()
    approval = _approval(row)
    return {
        "id": row.id, "organisation_uscc": row.organisation_uscc, "organisation_name": row.organisation_name,
        "kind": row.kind, "path": row.path, "status": row.status, "fields": row.fields,
        "suspended_fields": row.suspended_fields, "approved_fields": sorted(approval.approved_fields()),
        "application_id": row.application_id, "granted_at": row.granted_at.isoformat(),
        "history": [
            {"action": h.action, "from": h.from_status, "to": h.to_status, "fields": h.fields, "reason": h.reason,
             "actor": h.actor, "cause_event_id": h.cause_event_id, "at": h.at.isoformat()}
            for h in history
        ],
        "verifications": [_verification_view(v) for v in checks],
    }


async def list_approvals(runtime: ServiceRuntime, principal: Principal, organisation_uscc: str | None) -> dict[str, Any]:
    query = sa.select(db.approvals.c.id).order_by(db.approvals.c.granted_at)
    if principal.role is Role.AGENCY:
        query = query.where(db.approvals.c.organisation_uscc == (principal.org or "").upper())
    if organisation_uscc:
        query = query.where(db.approvals.c.organisation_uscc == organisation_uscc.upper())
    async with runtime.sessions() as session:
        ids = list((await session.execute(query.limit(500))).scalars())
    return {"items": [await get_approval(runtime, principal, i) for i in ids]}


async def change(
    runtime: ServiceRuntime,
    principal: Principal,
    approval_id: str,
    action: LifecycleAction,
    reason: str,
    fields: list[str],
) -> dict[str, Any]:
    """A regulator suspends, reinstates, reduces or revokes an approval, with a reason."""
    async with runtime.unit_of_work() as uow:
        approval = await _load_approval(uow, approval_id)
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
            case _:
                raise AssertionError(f"unknown lifecycle action {action!r}")
        await _save_approval(uow, approval)
        await uow.commit()
    return await get_approval(runtime, principal, approval_id)


async def credit_sanctions(runtime: ServiceRuntime, principal: Principal, organisation_uscc: str | None) -> dict[str, Any]:
    """Credit sanctions of breached commitments (an agency sees its own)."""
    t = db.credit_sanctions
    query = sa.select(t).order_by(t.c.at)
    if principal.role is Role.AGENCY:
        query = query.where(t.c.organisation_uscc == (principal.org or "").upper())
    if organisation_uscc:
        query = query.where(t.c.organisation_uscc == organisation_uscc.upper())
    async with runtime.sessions() as session:
        rows = (await session.execute(query.limit(500))).all()
    return {
        "items": [
            {"id": r.id, "organisation_uscc": r.organisation_uscc, "reason": r.reason,
             "verification_id": r.verification_id, "at": r.at.isoformat()}
            for r in rows
        ]
    }


# --- post-approval verification ----------------------------------------------------------------


def _verification_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "approval_id": row.approval_id, "organisation_uscc": row.organisation_uscc,
        "due": row.due.isoformat(), "status": row.status, "inspector_id": row.inspector_id,
        "findings": row.findings, "recorded_at": row.recorded_at.isoformat() if row.recorded_at else None,
    }


async def _load_verification(uow: UnitOfWork, verification_id: str) -> Verification:
    row = (
        await uow.session.execute(
            sa.select(db.verifications).where(db.verifications.c.id == verification_id).with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound(f"verification {verification_id} not found", field="verification_id")
    return _verification(row)


async def get_verification(runtime: ServiceRuntime, verification_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (
            await session.execute(sa.select(db.verifications).where(db.verifications.c.id == verification_id))
        ).first()
    if row is None:
        raise NotFound(f"verification {verification_id} not found", field="verification_id")
    return _verification_view(row)


async def list_verifications(runtime: ServiceRuntime, principal: Principal, status: str | None) -> dict[str, Any]:
    """The regulator sees every verification; an inspector those assigned to them."""
    t = db.verifications
    query = sa.select(t).order_by(t.c.due, t.c.id)
    if principal.role is Role.INSPECTOR:
        query = query.where(t.c.inspector_id == principal.inspector_id)
    if status:
        query = query.where(t.c.status == status)
    async with runtime.sessions() as session:
        rows = (await session.execute(query.limit(500))).all()
    return {"items": [_verification_view(r) for r in rows]}


async def assign_verification(
    runtime: ServiceRuntime, principal: Principal, verification_id: str, inspector_id: str
) -> dict[str, Any]:
    """The regulator names the inspector who will verify the commitment (re-assignable until recorded)."""
    async with runtime.unit_of_work() as uow:
        verification = await _load_verification(uow, verification_id)
        verification.assign(inspector_id)
        await _save_verification(uow, verification)
        await uow.commit()
    log.info("verification assigned", verification_id=verification_id, inspector_id=inspector_id, by=principal.actor)
    return await get_verification(runtime, verification_id)


async def record_verification(
    runtime: ServiceRuntime, principal: Principal, verification_id: str, outcome: str, findings: str
) -> dict[str, Any]:
    """The assigned inspector records the verification.

    A breached commitment is a credit sanction on the organisation and revokes the
    approval: approval.commitment_breached.v1 is emitted, then approval.revoked.v1 (same
    transaction, same key, so in that order on the topic).
    """
    async with runtime.unit_of_work() as uow:
        verification = await _load_verification(uow, verification_id)
        if verification.inspector_id is None or verification.inspector_id != principal.inspector_id:
            raise Forbidden(f"inspector {principal.inspector_id} is not assigned to verification {verification_id}")
        at = _now()
        if outcome == "confirmed":
            verification.confirm(inspector_id=principal.inspector_id, findings=findings, at=at)
        else:
            approval = await _load_approval(uow, verification.approval_id)
            verification.record_breach(
                approval, inspector_id=principal.inspector_id, findings=findings, at=at, actor=principal.actor
            )
            await uow.session.execute(
                sa.insert(db.credit_sanctions).values(
                    id=str(uuid.uuid4()), organisation_uscc=approval.organisation_uscc,
                    reason=f"commitment breached: {findings}", verification_id=verification.id, at=at,
                )
            )
            uow.emit(
                events.CommitmentBreachedV1(
                    approval_id=approval.id, organisation_uscc=approval.organisation_uscc, kind=approval.kind.value,
                    verification_id=verification.id, findings=findings,
                )
            )
            await _save_approval(uow, approval)  # the revocation, unless it was revoked already
        await _save_verification(uow, verification)
        await uow.commit()
    return await get_verification(runtime, verification_id)


# --- reactions to events -------------------------------------------------------------------------


async def _unrevoked_approvals_of(uow: UnitOfWork, organisation_uscc: str, kind: Kind) -> list[Approval]:
    rows = (
        await uow.session.execute(
            sa.select(db.approvals)
            .where(db.approvals.c.organisation_uscc == organisation_uscc)
            .where(db.approvals.c.kind == kind.value)
            .where(db.approvals.c.status != ApprovalStatus.REVOKED.value)
            .order_by(db.approvals.c.granted_at)
            .with_for_update()
        )
    ).all()
    return [_approval(r) for r in rows]


async def suspend_after_failed_inspection(uow: UnitOfWork, event: events.InspectionFailedV1) -> None:
    """A failed inspection of a certification body or lab suspends its approval (whole).

    An inspection of an enterprise is the certificates' business; an approval already
    suspended stays as it is.
    """
    if event.target_kind.value not in {k.value for k in Kind}:
        return
    for approval in await _unrevoked_approvals_of(uow, event.target_uscc, Kind(event.target_kind.value)):
        if approval.status is ApprovalStatus.SUSPENDED:
            continue
        approval.suspend(
            f"inspection {event.inspection_id} failed: {event.findings}", at=_now(), actor="supervision",
            cause_event_id=uow.cause_event_id,
        )
        await _save_approval(uow, approval)


async def suspend_lab_field(uow: UnitOfWork, event: events.LabFieldSuspensionRequiredV1) -> None:
    """DESIGN flow 4: that field of the lab's qualification is suspended, the rest stays."""
    for approval in await _unrevoked_approvals_of(uow, event.lab_uscc, Kind.TESTING_LAB):
        if event.field not in approval.fields or event.field in approval.suspended_fields:
            continue
        approval.suspend(
            f"proficiency: {event.reason}", at=_now(), fields=[event.field], actor="proficiency",
            cause_event_id=uow.cause_event_id,
        )
        await _save_approval(uow, approval)
