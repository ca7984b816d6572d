"""What callers are shown: applications (with the working days left on the standard path, or
null with the reason when they cannot be counted), approvals with their history and
verifications, credit sanctions, verifications, what is overdue, and the catalogue. Read-only; "today" is the regulator's day by the runtime's clock.

An agency sees only its own organisation's objects: another's answer 404, like missing ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound
from conformity_shared.runtime import ServiceRuntime

from approval import db
from approval.domain import ApplicationStatus, WorkingCalendar, WorkingDayCalendarMissing, deadline_passed
from approval.policy import Policy, in_force
from approval.service.authorization import is_another_organisation, own_organisation

# The most items a list answers (applications are paged instead).
LIST_LIMIT = 500


def catalogue_view(runtime: ServiceRuntime) -> dict[str, Any]:
    return {
        "fields": [
            {"code": f.code, "name": f.name, "risk": f.risk.value, "kind": f.kind.value,
             "schemes": sorted(s.value for s in f.schemes)}
            for f in in_force(runtime).catalogue
        ]
    }


# --- applications ------------------------------------------------------------------------


def application_view(row: Any, today: dt.date, policy: Policy) -> dict[str, Any]:
    """An application as answered; an accepted one also says its working days left and whether it is overdue."""
    view = {
        "id": row.id, "organisation_uscc": row.organisation_uscc, "organisation_name": row.organisation_name,
        "kind": row.kind, "path": row.path, "requested_fields": row.requested_fields, "declared": row.declared,
        "status": row.status, "failed_rules": row.failed_rules, "submitted_at": row.submitted_at.isoformat(),
        "accepted_on": _iso(row.accepted_on), "decision_due": _iso(row.decision_due),
        "decided_at": _iso(row.decided_at), "decided_by": row.decided_by, "decision_reasons": row.decision_reasons,
        "approval_id": row.approval_id,
    }
    if row.status == ApplicationStatus.ACCEPTED.value and row.decision_due:
        view |= working_days_left(policy.calendar, today, row.decision_due)
        view["overdue"] = deadline_passed(row.decision_due, today)
    return view


def working_days_left(calendar: WorkingCalendar, today: dt.date, decision_due: dt.date) -> dict[str, Any]:
    """The working days from today to the deadline; null, with the reason, when counting them
    would run through a year with no working-day calendar (the deadline itself still stands)."""
    try:
        return {"working_days_left": calendar.working_days_between(today, decision_due)}
    except WorkingDayCalendarMissing as missing:
        (reason,) = missing.counting("the working days left", "working_days_left").rules
        return {"working_days_left": None, "working_days_left_unknown": reason}


async def get_application(runtime: ServiceRuntime, principal: Principal, application_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = await db.application_row(session, application_id)
    if row is None or is_another_organisation(principal, row.organisation_uscc):
        raise NotFound(f"application {application_id} not found", field="application_id")
    view = application_view(row, runtime.clock.today(), in_force(runtime))
    if row.approval_id:
        view["approval"] = await get_approval(runtime, principal, row.approval_id)
    return view


async def list_applications(
    runtime: ServiceRuntime, principal: Principal, status: str | None, limit: int, offset: int
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = await db.application_rows(
            session, organisation_uscc=own_organisation(principal), status=status, limit=limit, offset=offset
        )
    today, policy = runtime.clock.today(), in_force(runtime)
    return {"items": [application_view(r, today, policy) for r in rows]}


async def overdue(runtime: ServiceRuntime, as_of: dt.date | None = None) -> dict[str, Any]:
    """Accepted standard-path applications past their decision deadline, and scheduled
    post-approval verifications past their due date, as of the regulator's today unless
    another day is given; an act on the deadline day is on time."""
    today = as_of or runtime.clock.today()
    async with runtime.sessions() as session:
        applications = await db.overdue_application_rows(session, today)
        checks = await db.overdue_verification_rows(session, today)
    policy = in_force(runtime)
    return {
        "as_of": today.isoformat(),
        "applications": [application_view(r, today, policy) for r in applications],
        "verifications": [verification_view(v) for v in checks],
    }


# --- approvals ------------------------------------------------------------------------------


async def get_approval(runtime: ServiceRuntime, principal: Principal, approval_id: str) -> dict[str, Any]:
    """The approval with its history (who, when, why, which event) and its verifications."""
    async with runtime.sessions() as session:
        row = await db.approval_row(session, approval_id)
        if row is None or is_another_organisation(principal, row.organisation_uscc):
            raise NotFound(f"approval {approval_id} not found", field="approval_id")
        history = await db.approval_history_rows(session, approval_id)
        checks = await db.verification_rows_of(session, approval_id)
    approval = db.approval_from_row(row)
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
        "verifications": [verification_view(v) for v in checks],
    }


async def list_approvals(runtime: ServiceRuntime, principal: Principal, organisation_uscc: str | None) -> dict[str, Any]:
    async with runtime.sessions() as session:
        ids = await db.approval_ids(
            session, organisation_filters=_organisation_filters(principal, organisation_uscc), limit=LIST_LIMIT
        )
    return {"items": [await get_approval(runtime, principal, i) for i in ids]}


async def credit_sanctions(runtime: ServiceRuntime, principal: Principal, organisation_uscc: str | None) -> dict[str, Any]:
    """Credit sanctions of breached commitments (an agency sees its own)."""
    async with runtime.sessions() as session:
        rows = await db.credit_sanction_rows(
            session, organisation_filters=_organisation_filters(principal, organisation_uscc), limit=LIST_LIMIT
        )
    return {
        "items": [
            {"id": r.id, "organisation_uscc": r.organisation_uscc, "reason": r.reason,
             "verification_id": r.verification_id, "at": r.at.isoformat()}
            for r in rows
        ]
    }


def _organisation_filters(principal: Principal, organisation_uscc: str | None) -> list[str]:
    """An agency's own organisation, and the one asked for: both must match."""
    own = own_organisation(principal)
    return [org for org in (own, organisation_uscc.upper() if organisation_uscc else None) if org is not None]


# --- post-approval verification ----------------------------------------------------------------


def verification_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "approval_id": row.approval_id, "organisation_uscc": row.organisation_uscc,
        "due": row.due.isoformat(), "status": row.status, "inspector_id": row.inspector_id,
        "findings": row.findings, "recorded_at": _iso(row.recorded_at),
    }


async def get_verification(runtime: ServiceRuntime, verification_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = await db.verification_row(session, verification_id)
    if row is None:
        raise NotFound(f"verification {verification_id} not found", field="verification_id")
    return verification_view(row)


async def list_verifications(runtime: ServiceRuntime, principal: Principal, status: str | None) -> dict[str, Any]:
    """The regulator sees every verification; an inspector those assigned to them."""
    async with runtime.sessions() as session:
        rows = await db.verification_rows(
            session, inspector_id=principal.inspector_id, assigned_only=principal.role is Role.INSPECTOR,
            status=status, limit=LIST_LIMIT,
        )
    return {"items": [verification_view(r) for r in rows]}


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None
