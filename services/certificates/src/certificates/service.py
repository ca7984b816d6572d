"""Use cases of the certificates service: each opens one unit of work, asks the domain,
saves the change, its history and its events together."""

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

from certificates import db, domain

log = structlog.get_logger("certificates")

SUSPEND_CHUNK = 2000  # rows per statement when a revoked body's certificates are suspended


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the read model of approved bodies (approval events only) -------------------------


async def _body(uow: UnitOfWork, uscc: str) -> dict[str, Any] | None:
    row = (await uow.session.execute(sa.select(db.bodies).where(db.bodies.c.uscc == uscc))).mappings().first()
    return dict(row) if row else None


async def record_body_granted(uow: UnitOfWork, event: events.ApprovalGrantedV1) -> None:
    if event.kind != events.OrganisationKind.CERTIFICATION_BODY:
        return  # labs do not issue certificates
    values = dict(
        approval_id=event.approval_id, name=event.organisation_name, status="active",
        fields=sorted(event.fields), suspended_fields=[], updated_at=_now(),
    )
    if await _body(uow, event.organisation_uscc):
        await uow.session.execute(sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(**values))
    else:
        await uow.session.execute(sa.insert(db.bodies).values(uscc=event.organisation_uscc, **values))


async def record_body_suspended(uow: UnitOfWork, event: events.ApprovalSuspendedV1) -> None:
    body = await _body(uow, event.organisation_uscc)
    if body is None:
        return
    if event.fields:
        values = {"suspended_fields": sorted(set(body["suspended_fields"]) | set(event.fields))}
    else:
        values = {"status": "suspended"}
    await uow.session.execute(
        sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(**values, updated_at=_now())
    )


async def record_body_reinstated(uow: UnitOfWork, event: events.ApprovalReinstatedV1) -> None:
    body = await _body(uow, event.organisation_uscc)
    if body is None or body["status"] == "revoked":
        return
    if event.fields:
        values = {"suspended_fields": sorted(set(body["suspended_fields"]) - set(event.fields))}
    else:
        values = {"status": "active"}  # field suspensions have their own causes and stay
    await uow.session.execute(
        sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(**values, updated_at=_now())
    )


async def record_body_scope_reduced(uow: UnitOfWork, event: events.ApprovalScopeReducedV1) -> None:
    if await _body(uow, event.organisation_uscc) is None:
        return
    await uow.session.execute(
        sa.update(db.bodies)
        .where(db.bodies.c.uscc == event.organisation_uscc)
        .values(fields=sorted(event.remaining_fields), updated_at=_now())
    )


# --- loading and saving certificates ---------------------------------------------------


def _to_domain(row: Any) -> domain.Certificate:
    return domain.Certificate(
        number=row.number,
        issuing_body_uscc=row.issuing_body_uscc,
        holder_uscc=row.holder_uscc,
        holder_name=row.holder_name,
        scheme=row.scheme,
        field=row.field,
        product=row.product,
        standard=row.standard,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        status=domain.Status(row.status),
        suspension_reason=row.suspension_reason,
        suspended_until=row.suspended_until,
        suspended_by=row.suspended_by,
    )


async def _load(uow: UnitOfWork, number: str, *, lock: bool = True) -> domain.Certificate | None:
    query = sa.select(db.certificates).where(db.certificates.c.number == number)
    if lock:
        query = query.with_for_update()
    row = (await uow.session.execute(query)).first()
    return _to_domain(row) if row else None


async def _save(uow: UnitOfWork, cert: domain.Certificate) -> None:
    """Write the certificate's new state and the history entries it gained.

    The update is conditional on the status the certificate was read in, so that two
    writers (two instances, a request racing the scheduler) never both transition it.
    """
    first = cert.history[0]
    changed = await uow.session.execute(
        sa.update(db.certificates)
        .where(db.certificates.c.number == cert.number)
        .where(db.certificates.c.status == first.from_status.value)
        .values(
            status=cert.status.value,
            suspension_reason=cert.suspension_reason,
            suspended_until=cert.suspended_until,
            suspended_by=cert.suspended_by,
            last_change_at=cert.history[-1].at,
            version=db.certificates.c.version + 1,
        )
    )
    if changed.rowcount != 1:
        raise Conflict(f"certificate {cert.number} was changed concurrently; try again", field="status")
    await _write_history(uow, cert)


async def _write_history(uow: UnitOfWork, cert: domain.Certificate) -> None:
    if cert.history:
        await uow.session.execute(
            sa.insert(db.history),
            [
                dict(certificate_number=cert.number, from_status=h.from_status.value if h.from_status else None,
                     to_status=h.to_status.value, reason=h.reason, actor=h.actor, cause_event_id=h.cause_event_id, at=h.at)
                for h in cert.history
            ],
        )
        cert.history.clear()


def _event_for(cert: domain.Certificate, transition: domain.HistoryEntry) -> events.Event:
    common = dict(
        certificate_number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc
    )
    match cert.status:
        case domain.Status.SUSPENDED:
            return events.CertificateSuspendedV1(**common, reason=transition.reason, suspended_until=cert.suspended_until)
        case domain.Status.VALID:
            return events.CertificateReinstatedV1(**common, reason=transition.reason)
        case domain.Status.WITHDRAWN:
            return events.CertificateWithdrawnV1(**common, reason=transition.reason)
        case domain.Status.CANCELLED:
            return events.CertificateCancelledV1(**common, reason=transition.reason)
        case domain.Status.EXPIRED:
            return events.CertificateExpiredV1(**common)
    raise AssertionError(f"no event for status {cert.status}")


async def _apply(uow: UnitOfWork, cert: domain.Certificate) -> None:
    """Save a transitioned certificate and emit the event of its last transition."""
    transition = cert.history[-1]
    await _save(uow, cert)
    uow.emit(_event_for(cert, transition))


# --- automatic reactions ---------------------------------------------------------------


async def suspend_for_failed_spot_check(uow: UnitOfWork, event: events.SpotCheckFailedV1, months: int) -> None:
    """DESIGN flow 1: the named valid certificates of the holder are suspended."""
    cause = uow.cause_event_id
    for number in sorted(set(event.certificate_numbers)):
        cert = await _load(uow, number)
        if cert is None:
            log.warning("spot check names an unknown certificate", certificate=number)
            continue
        if cert.holder_uscc != event.holder_uscc:
            log.warning("spot check names a certificate of another holder", certificate=number)
            continue
        if cert.status is not domain.Status.VALID:
            continue  # already suspended, withdrawn...: nothing more to do
        cert.suspend(
            domain.SuspensionReason.SPOT_CHECK_FAILED, at=_now(), cause_event_id=cause,
            suspended_by=event.inspection_id, months=months,
        )
        await _apply(uow, cert)


async def reinstate_after_rectification(uow: UnitOfWork, event: events.RectificationVerifiedV1) -> None:
    """DESIGN flow 2: exactly the certificates suspended by that spot check are reinstated."""
    cause = uow.cause_event_id
    rows = (
        await uow.session.execute(
            sa.select(db.certificates)
            .where(db.certificates.c.suspended_by == event.spot_check_id)
            .where(db.certificates.c.status == domain.Status.SUSPENDED.value)
            .with_for_update()
        )
    ).all()
    for row in rows:
        cert = _to_domain(row)
        try:
            cert.reinstate_after_rectification(event.spot_check_id, at=_now(), cause_event_id=cause)
        except domain.IllegalTransition as exc:
            # Too late: the suspension deadline or the validity has passed; the scheduler acts instead.
            log.warning("rectification cannot reinstate", certificate=cert.number, rule=exc.rule)
            continue
        await _apply(uow, cert)


async def suspend_for_revoked_body(uow: UnitOfWork, event: events.ApprovalRevokedV1, months: int) -> None:
    """DESIGN flow 3: every valid certificate the revoked body issued is suspended."""
    cause = uow.cause_event_id
    if await _body(uow, event.organisation_uscc) is not None:
        await uow.session.execute(
            sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(status="revoked", updated_at=_now())
        )
    rows = (
        await uow.session.execute(
            sa.select(db.certificates)
            .where(db.certificates.c.issuing_body_uscc == event.organisation_uscc)
            .where(db.certificates.c.status == domain.Status.VALID.value)
            .order_by(db.certificates.c.number)
        )
    ).all()
    at = _now()
    for row in rows:
        cert = _to_domain(row)
        cert.suspend(
            domain.SuspensionReason.ISSUING_BODY_REVOKED, at=at, cause_event_id=cause,
            suspended_by=event.approval_id, months=months,
        )
        await _apply(uow, cert)
    log.info("certificates of a revoked body suspended", count=len(rows))


# --- requests --------------------------------------------------------------------------


def _authorize(principal: Principal, cert: domain.Certificate) -> None:
    if principal.role is Role.REGULATOR:
        return
    if principal.org != cert.issuing_body_uscc:
        # Not found rather than forbidden: a body must not learn which numbers exist elsewhere.
        raise NotFound(f"certificate {cert.number} not found", field="number")


async def issue(runtime: ServiceRuntime, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        body_row = await _body(uow, principal.org or "")
        body = domain.BodyStanding(
            uscc=principal.org or "",
            status=body_row["status"] if body_row else None,
            fields=frozenset(body_row["fields"]) if body_row else frozenset(),
            suspended_fields=frozenset(body_row["suspended_fields"]) if body_row else frozenset(),
        )
        domain.may_issue(body, request["field"])
        scheme = domain.Scheme.parse(request["scheme"])
        valid_from = request.get("valid_from") or dt.date.today()
        valid_until = request.get("valid_until") or domain.default_valid_until(scheme, valid_from)
        if valid_until <= valid_from:
            raise DomainError("valid_until must be after valid_from", field="valid_until")
        prefix = domain.number_prefix(scheme, valid_from.year, principal.org or "")
        sequence = await _next_sequence(uow, prefix)
        number = domain.certificate_number(prefix, sequence)
        cert = domain.Certificate.issue(
            number=number, issuing_body_uscc=principal.org or "", holder_uscc=request["holder_uscc"],
            holder_name=request["holder_name"], scheme=scheme.value, field=request["field"], product=request["product"],
            standard=request["standard"], valid_from=valid_from, valid_until=valid_until, at=_now(), actor=principal.actor,
        )
        await uow.session.execute(
            sa.insert(db.certificates).values(
                number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc,
                holder_name=cert.holder_name, scheme=cert.scheme, field=cert.field, product=cert.product,
                standard=cert.standard, valid_from=cert.valid_from, valid_until=cert.valid_until,
                status=cert.status.value, last_change_at=_now(), version=1,
            )
        )
        await _write_history(uow, cert)
        uow.emit(
            events.CertificateIssuedV1(
                certificate_number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc,
                holder_name=cert.holder_name, scheme=cert.scheme, field=cert.field, product=cert.product,
                standard=cert.standard, valid_from=cert.valid_from, valid_until=cert.valid_until,
            )
        )
        await uow.commit()
    return await get_certificate(runtime, principal, number)


async def _next_sequence(uow: UnitOfWork, prefix: str) -> int:
    current = await uow.session.scalar(
        sa.select(db.number_sequences.c.last).where(db.number_sequences.c.prefix == prefix).with_for_update()
    )
    if current is None:
        await uow.session.execute(sa.insert(db.number_sequences).values(prefix=prefix, last=1))
        return 1
    await uow.session.execute(
        sa.update(db.number_sequences).where(db.number_sequences.c.prefix == prefix).values(last=current + 1)
    )
    return current + 1


async def transition(
    runtime: ServiceRuntime,
    principal: Principal,
    number: str,
    action: str,
    reason: str,
    holder_reference: str | None,
    note: str | None = None,
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        cert = await _load(uow, number)
        if cert is None:
            raise NotFound(f"certificate {number} not found", field="number")
        _authorize(principal, cert)
        holder_request = action == "cancel" or reason == domain.SuspensionReason.HOLDER_REQUEST.value
        if holder_request:
            if principal.role is not Role.AGENCY:
                raise Forbidden("a holder's request is made through the certification body that issued the certificate")
            if not holder_reference:
                raise DomainError("a holder's request needs holder_reference (the holder's written request)", field="holder_reference")
        at = _now()
        try:
            match action:
                case "suspend":
                    cert.suspend(domain.SuspensionReason(reason), at=at, actor=principal.actor,
                                 suspended_by=holder_reference, note=note, months=runtime.settings.suspension_months)
                case "reinstate":
                    cert.reinstate(reason, at=at, actor=principal.actor)
                case "withdraw":
                    cert.withdraw(reason, at=at, actor=principal.actor)
                case "cancel":
                    cert.cancel(reason, at=at, actor=principal.actor)
        except domain.IllegalTransition as exc:
            raise Conflict(str(exc), field="status") from None
        if holder_request:
            await uow.session.execute(
                sa.insert(db.holder_requests).values(
                    id=str(uuid.uuid4()), certificate_number=number, action=action,
                    requested_by_body=principal.org, holder_reference=holder_reference, at=at,
                )
            )
        await _apply(uow, cert)
        await uow.commit()
    return await get_certificate(runtime, principal, number)


# --- queries ---------------------------------------------------------------------------


def _summary(row: Any) -> dict[str, Any]:
    return {
        "number": row.number,
        "status": row.status,
        "holder": {"uscc": row.holder_uscc, "name": row.holder_name},
        "issuing_body_uscc": row.issuing_body_uscc,
        "scope": {"scheme": row.scheme, "field": row.field, "product": row.product, "standard": row.standard},
        "validity": {"from": row.valid_from.isoformat(), "until": row.valid_until.isoformat()},
        "suspension": (
            {"reason": row.suspension_reason, "until": row.suspended_until.isoformat() if row.suspended_until else None}
            if row.status == "suspended" else None
        ),
        "last_change_at": row.last_change_at.isoformat(),
    }


async def get_certificate(runtime: ServiceRuntime, principal: Principal, number: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.certificates).where(db.certificates.c.number == number))).first()
        if row is None or (principal.role is not Role.REGULATOR and row.issuing_body_uscc != principal.org):
            raise NotFound(f"certificate {number} not found", field="number")
        entries = (
            await session.execute(
                sa.select(db.history).where(db.history.c.certificate_number == number).order_by(db.history.c.id)
            )
        ).all()
    return {
        **_summary(row),
        "history": [
            {"from": h.from_status, "to": h.to_status, "reason": h.reason, "actor": h.actor,
             "cause_event_id": h.cause_event_id, "at": h.at.isoformat()}
            for h in entries
        ],
    }


async def list_certificates(
    runtime: ServiceRuntime, principal: Principal, status: str | None, holder_uscc: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query = sa.select(db.certificates).order_by(db.certificates.c.number).limit(limit).offset(offset)
    if principal.role is not Role.REGULATOR:
        query = query.where(db.certificates.c.issuing_body_uscc == principal.org)
    if status:
        query = query.where(db.certificates.c.status == status)
    if holder_uscc:
        query = query.where(db.certificates.c.holder_uscc == holder_uscc)
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {"items": [_summary(r) for r in rows], "limit": limit, "offset": offset}


_PUBLIC = [
    db.certificates.c.number, db.certificates.c.status, db.certificates.c.holder_uscc, db.certificates.c.holder_name,
    db.certificates.c.issuing_body_uscc, db.certificates.c.scheme, db.certificates.c.field, db.certificates.c.product,
    db.certificates.c.standard, db.certificates.c.valid_from, db.certificates.c.valid_until,
    db.certificates.c.suspension_reason, db.certificates.c.suspended_until, db.certificates.c.last_change_at,
]


async def verify(runtime: ServiceRuntime, number: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(*_PUBLIC).where(db.certificates.c.number == number))).first()
    if row is None:
        raise NotFound(f"no certificate numbered {number}", field="number")
    return _summary(row)


async def verify_many(runtime: ServiceRuntime, numbers: list[str]) -> dict[str, Any]:
    wanted = list(dict.fromkeys(numbers))
    async with runtime.sessions() as session:
        rows = (await session.execute(sa.select(*_PUBLIC).where(db.certificates.c.number.in_(wanted)))).all()
    found = {r.number: _summary(r) for r in rows}
    results = [found.get(n, {"number": n, "status": "unknown"}) for n in wanted]
    return {"count": len(results), "unknown": sum(1 for r in results if r["status"] == "unknown"), "results": results}
