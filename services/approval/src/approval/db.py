"""The approval service's tables (applications, approvals with their history, post-approval
verifications, credit sanctions), the mapping between rows and the domain's aggregates, and
the loads, saves and queries the use cases run.

Loads for a change lock the row (``FOR UPDATE``); queries for answers do not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared.db import UTCDateTime, messaging_tables

from approval.domain import (
    Application,
    ApplicationStatus,
    Approval,
    ApprovalStatus,
    CreditSanction,
    HistoryEntry,
    Kind,
    Verification,
    VerificationStatus,
)

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("organisation_name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("path", sa.String(20), nullable=False),
    sa.Column("requested_fields", sa.JSON, nullable=False),
    sa.Column("declared", sa.JSON, nullable=False),
    sa.Column("commitment_text", sa.Text, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("failed_rules", sa.JSON, nullable=False),
    sa.Column("submitted_at", TZ, nullable=False),
    sa.Column("accepted_on", sa.Date, nullable=True),
    sa.Column("decision_due", sa.Date, nullable=True, index=True),
    sa.Column("decided_at", TZ, nullable=True),
    sa.Column("decided_by", sa.String(120), nullable=True),
    sa.Column("decision_reasons", sa.JSON, nullable=False),
    sa.Column("approval_id", sa.String(36), nullable=True),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("organisation_name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("path", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("suspended_fields", sa.JSON, nullable=False),
    sa.Column("application_id", sa.String(36), nullable=False),
    sa.Column("granted_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
)

approval_history = sa.Table(
    "approval_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.String(36), sa.ForeignKey("approvals.id"), nullable=False, index=True),
    # granted | suspended | reinstated | scope_reduced | revoked (a field suspension keeps the status)
    sa.Column("action", sa.String(20), nullable=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(120), nullable=True),
    sa.Column("cause_event_id", sa.String(64), nullable=True),
    sa.Column("at", TZ, nullable=False),
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("approval_id", sa.String(36), sa.ForeignKey("approvals.id"), nullable=False, index=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False),
    sa.Column("due", sa.Date, nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),  # scheduled | confirmed | breached
    sa.Column("inspector_id", sa.String(64), nullable=True),
    sa.Column("findings", sa.Text, nullable=True),
    sa.Column("recorded_at", TZ, nullable=True),
)

credit_sanctions = sa.Table(
    "credit_sanctions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("verification_id", sa.String(36), nullable=True),
    sa.Column("at", TZ, nullable=False),
)


# --- rows <-> aggregates -------------------------------------------------------------------


def application_from_row(row: Any) -> Application:
    return Application(
        id=row.id, organisation_uscc=row.organisation_uscc, organisation_name=row.organisation_name, kind=row.kind,
        path=row.path, requested_fields=tuple(row.requested_fields), declared=row.declared,
        commitment_text=row.commitment_text, submitted_at=row.submitted_at, status=row.status,
        failed_rules=list(row.failed_rules),
        accepted_on=row.accepted_on, decision_due=row.decision_due, decided_at=row.decided_at,
        decided_by=row.decided_by, decision_reasons=list(row.decision_reasons), approval_id=row.approval_id,
    )


def application_values(app: Application) -> dict[str, Any]:
    return dict(
        organisation_uscc=app.organisation_uscc, organisation_name=app.organisation_name, kind=app.kind.value,
        path=app.path.value, requested_fields=list(app.requested_fields), declared=app.declared.as_dict(),
        commitment_text=app.commitment_text, status=app.status.value,
        failed_rules=[f.as_dict() for f in app.failed_rules], submitted_at=app.submitted_at,
        accepted_on=app.accepted_on, decision_due=app.decision_due, decided_at=app.decided_at,
        decided_by=app.decided_by, decision_reasons=list(app.decision_reasons), approval_id=app.approval_id,
    )


def approval_from_row(row: Any) -> Approval:
    return Approval(
        id=row.id, organisation_uscc=row.organisation_uscc, organisation_name=row.organisation_name, kind=row.kind,
        path=row.path, fields=frozenset(row.fields), application_id=row.application_id, granted_at=row.granted_at,
        status=row.status, suspended_fields=frozenset(row.suspended_fields),
    )


def approval_values(approval: Approval, updated_at: dt.datetime) -> dict[str, Any]:
    return dict(
        organisation_uscc=approval.organisation_uscc, organisation_name=approval.organisation_name,
        kind=approval.kind.value, path=approval.path.value, status=approval.status.value,
        fields=sorted(approval.fields), suspended_fields=sorted(approval.suspended_fields),
        application_id=approval.application_id, granted_at=approval.granted_at, updated_at=updated_at,
    )


def history_values(approval_id: str, entry: HistoryEntry) -> dict[str, Any]:
    return dict(
        approval_id=approval_id, action=entry.action.value,
        from_status=entry.from_status.value if entry.from_status else None, to_status=entry.to_status.value,
        fields=list(entry.fields), reason=entry.reason, actor=entry.actor, cause_event_id=entry.cause_event_id,
        at=entry.at,
    )


def verification_from_row(row: Any) -> Verification:
    return Verification(
        id=row.id, approval_id=row.approval_id, organisation_uscc=row.organisation_uscc, due=row.due,
        status=row.status, inspector_id=row.inspector_id, findings=row.findings, recorded_at=row.recorded_at,
    )


def verification_values(verification: Verification) -> dict[str, Any]:
    return dict(
        approval_id=verification.approval_id, organisation_uscc=verification.organisation_uscc,
        due=verification.due, status=verification.status.value, inspector_id=verification.inspector_id,
        findings=verification.findings, recorded_at=verification.recorded_at,
    )


# --- loads and saves (inside a unit of work) --------------------------------------------------


async def load_application(session: AsyncSession, application_id: str) -> Application | None:
    query = sa.select(applications).where(applications.c.id == application_id).with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else application_from_row(row)


async def save_application(session: AsyncSession, app: Application, *, new: bool = False) -> None:
    values = application_values(app)
    if new:
        await session.execute(sa.insert(applications).values(id=app.id, **values))
    else:
        await session.execute(sa.update(applications).where(applications.c.id == app.id).values(**values))


async def load_approval(session: AsyncSession, approval_id: str) -> Approval | None:
    row = (await session.execute(sa.select(approvals).where(approvals.c.id == approval_id).with_for_update())).first()
    return None if row is None else approval_from_row(row)


async def save_approval(
    session: AsyncSession, approval: Approval, *, updated_at: dt.datetime, new: bool = False
) -> None:
    """Write the approval and append its new history entries (the caller clears them)."""
    values = approval_values(approval, updated_at)
    if new:
        await session.execute(sa.insert(approvals).values(id=approval.id, **values))
    else:
        await session.execute(sa.update(approvals).where(approvals.c.id == approval.id).values(**values))
    if approval.history:
        await session.execute(sa.insert(approval_history), [history_values(approval.id, h) for h in approval.history])


async def unrevoked_approvals_of(session: AsyncSession, organisation_uscc: str, kind: Kind) -> list[Approval]:
    """The organisation's approvals of that kind that are not revoked, oldest first, locked."""
    rows = (
        await session.execute(
            sa.select(approvals)
            .where(approvals.c.organisation_uscc == organisation_uscc)
            .where(approvals.c.kind == kind.value)
            .where(approvals.c.status != ApprovalStatus.REVOKED.value)
            .order_by(approvals.c.granted_at)
            .with_for_update()
        )
    ).all()
    return [approval_from_row(r) for r in rows]


async def load_verification(session: AsyncSession, verification_id: str) -> Verification | None:
    query = sa.select(verifications).where(verifications.c.id == verification_id).with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else verification_from_row(row)


async def save_verification(session: AsyncSession, verification: Verification, *, new: bool = False) -> None:
    values = verification_values(verification)
    if new:
        await session.execute(sa.insert(verifications).values(id=verification.id, **values))
    else:
        await session.execute(
            sa.update(verifications).where(verifications.c.id == verification.id).values(**values)
        )


async def add_credit_sanction(session: AsyncSession, sanction: CreditSanction) -> None:
    await session.execute(
        sa.insert(credit_sanctions).values(
            id=sanction.id, organisation_uscc=sanction.organisation_uscc, reason=sanction.reason,
            verification_id=sanction.verification_id, at=sanction.at,
        )
    )


# --- queries for answers ----------------------------------------------------------------------


async def application_row(session: AsyncSession, application_id: str) -> Any:
    return (await session.execute(sa.select(applications).where(applications.c.id == application_id))).first()


async def application_rows(
    session: AsyncSession, *, organisation_uscc: str | None, status: str | None, limit: int, offset: int
) -> Sequence[Any]:
    """Applications, newest first; of one organisation and in one status when given."""
    query = sa.select(applications).order_by(applications.c.submitted_at.desc()).limit(limit).offset(offset)
    if organisation_uscc is not None:
        query = query.where(applications.c.organisation_uscc == organisation_uscc)
    if status:
        query = query.where(applications.c.status == status)
    return (await session.execute(query)).all()


async def overdue_application_rows(session: AsyncSession, today: dt.date) -> Sequence[Any]:
    """Accepted applications whose decision deadline is before ``today``, oldest deadline first."""
    return (
        await session.execute(
            sa.select(applications)
            .where(applications.c.status == ApplicationStatus.ACCEPTED.value)
            .where(applications.c.decision_due < today)
            .order_by(applications.c.decision_due, applications.c.id)
        )
    ).all()


async def overdue_verification_rows(session: AsyncSession, today: dt.date) -> Sequence[Any]:
    """Scheduled verifications due before ``today``, oldest due date first."""
    return (
        await session.execute(
            sa.select(verifications)
            .where(verifications.c.status == VerificationStatus.SCHEDULED.value)
            .where(verifications.c.due < today)
            .order_by(verifications.c.due, verifications.c.id)
        )
    ).all()


async def approval_row(session: AsyncSession, approval_id: str) -> Any:
    return (await session.execute(sa.select(approvals).where(approvals.c.id == approval_id))).first()


async def approval_history_rows(session: AsyncSession, approval_id: str) -> Sequence[Any]:
    query = sa.select(approval_history).where(approval_history.c.approval_id == approval_id)
    return (await session.execute(query.order_by(approval_history.c.id))).all()


async def approval_ids(session: AsyncSession, *, organisation_filters: Sequence[str], limit: int) -> list[str]:
    """Ids of approvals, oldest grant first, whose organisation matches every filter given."""
    query = sa.select(approvals.c.id).order_by(approvals.c.granted_at)
    for org in organisation_filters:
        query = query.where(approvals.c.organisation_uscc == org)
    return list((await session.execute(query.limit(limit))).scalars())


async def verification_row(session: AsyncSession, verification_id: str) -> Any:
    return (await session.execute(sa.select(verifications).where(verifications.c.id == verification_id))).first()


async def verification_rows_of(session: AsyncSession, approval_id: str) -> Sequence[Any]:
    query = sa.select(verifications).where(verifications.c.approval_id == approval_id)
    return (await session.execute(query)).all()


async def verification_rows(
    session: AsyncSession, *, inspector_id: str | None, assigned_only: bool, status: str | None, limit: int
) -> Sequence[Any]:
    """Verifications by due date; only those assigned to ``inspector_id`` when ``assigned_only``."""
    query = sa.select(verifications).order_by(verifications.c.due, verifications.c.id)
    if assigned_only:
        query = query.where(verifications.c.inspector_id == inspector_id)
    if status:
        query = query.where(verifications.c.status == status)
    return (await session.execute(query.limit(limit))).all()


async def credit_sanction_rows(
    session: AsyncSession, *, organisation_filters: Sequence[str], limit: int
) -> Sequence[Any]:
    """Credit sanctions, oldest first, whose organisation matches every filter given."""
    query = sa.select(credit_sanctions).order_by(credit_sanctions.c.at)
    for org in organisation_filters:
        query = query.where(credit_sanctions.c.organisation_uscc == org)
    return (await session.execute(query.limit(limit))).all()
