"""Use cases of the certificates service: each opens one unit of work, asks the domain,
saves the change, its history and its events together."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
import structlog

from conformity_shared import db as shared_db, events
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import Conflict, DomainError, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from certificates import db, domain

log = structlog.get_logger("certificates")

MAX_VERIFY_BATCH = 1000  # numbers per public batch verification (DESIGN: at least 1,000)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    # One calendar for every date rule: UTC, like every stored timestamp.
    return _now().date()


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


def _concerns_known_approval(body: dict[str, Any] | None, event: events.ApprovalEvent) -> bool:
    """The read model follows the body's latest granted approval; events of an older one, or
    of a body whose grant was never seen (a lab), change nothing."""
    return body is not None and body["approval_id"] == event.approval_id


async def record_body_suspended(uow: UnitOfWork, event: events.ApprovalSuspendedV1) -> None:
    body = await _body(uow, event.organisation_uscc)
    if not _concerns_known_approval(body, event) or body["status"] == "revoked":
        return  # a revocation is final: a later suspension must not turn it back into a suspension
    if event.fields:
        values = {"suspended_fields": sorted(set(body["suspended_fields"]) | set(event.fields))}
    else:
        values = {"status": "suspended"}
    await uow.session.execute(
        sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(**values, updated_at=_now())
    )


async def record_body_reinstated(uow: UnitOfWork, event: events.ApprovalReinstatedV1) -> None:
    body = await _body(uow, event.organisation_uscc)
    if not _concerns_known_approval(body, event) or body["status"] == "revoked":
        return
    if event.fields:
        values = {"suspended_fields": sorted(set(body["suspended_fields"]) - set(event.fields))}
    else:
        values = {"status": "active"}  # field suspensions have their own causes and stay
    await uow.session.execute(
        sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(**values, updated_at=_now())
    )


async def record_body_scope_reduced(uow: UnitOfWork, event: events.ApprovalScopeReducedV1) -> None:
    if not _concerns_known_approval(await _body(uow, event.organisation_uscc), event):
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


async def _load_many(uow: UnitOfWork, numbers: Iterable[str]) -> list[domain.Certificate]:
    """The certificates with these numbers, in number order: one primary-key IN query."""
    wanted = sorted(set(numbers))
    if not wanted:
        return []
    c = db.certificates
    rows = (
        await uow.session.execute(sa.select(c).where(c.c.number.in_(wanted)).order_by(c.c.number).with_for_update())
    ).all()
    return [_to_domain(row) for row in rows]


async def _save(uow: UnitOfWork, cert: domain.Certificate) -> None:
    """Write the certificate's new state and the history entries it gained.

    The update is conditional on the status the certificate was read in, so that two
    writers (two instances, a request racing the scheduler) never both transition it.
    """
    first, last = cert.history[0], cert.history[-1]
    changed = await uow.session.execute(
        sa.update(db.certificates)
        .where(db.certificates.c.number == cert.number)
        .where(db.certificates.c.status == first.from_status.value)
        .values(
            status=cert.status.value,
            suspension_reason=cert.suspension_reason,
            suspended_until=cert.suspended_until,
            suspended_by=cert.suspended_by,
            last_change_at=last.at,
            last_change_reason=last.reason,
            version=db.certificates.c.version + 1,
        )
    )
    if changed.rowcount != 1:
        raise Conflict(f"certificate {cert.number} was changed concurrently; try again", field="status")
    await _write_history(uow, [cert])


def _history_row(number: str, h: domain.HistoryEntry) -> dict[str, Any]:
    return dict(
        certificate_number=number, from_status=h.from_status.value if h.from_status else None,
        to_status=h.to_status.value, reason=h.reason, actor=h.actor, cause_event_id=h.cause_event_id, at=h.at,
        note=h.note,
    )


async def _write_history(uow: UnitOfWork, certs: Iterable[domain.Certificate]) -> None:
    """Insert the history entries the certificates gained, in one executemany, and clear them."""
    rows = []
    for cert in certs:
        rows.extend(_history_row(cert.number, h) for h in cert.history)
        cert.history.clear()
    await shared_db.insert_many(uow.session, db.history, rows)


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


def _standing(row: dict[str, Any] | None, uscc: str) -> domain.BodyStanding:
    if row is None:
        return domain.BodyStanding(uscc=uscc, status=None)
    return domain.BodyStanding(
        uscc=uscc, status=row["status"], fields=frozenset(row["fields"]),
        suspended_fields=frozenset(row["suspended_fields"]),
    )


# --- automatic reactions ---------------------------------------------------------------


async def suspend_for_failed_spot_check(uow: UnitOfWork, event: events.SpotCheckFailedV1, months: int) -> None:
    """DESIGN flow 1: the named valid certificates of the holder are suspended, each with a
    deadline ``months`` later, remembering the spot check so that its rectification can
    reinstate exactly them."""
    cause, at = uow.cause_event_id, _now()
    named = set(event.certificate_numbers)
    certs = await _load_many(uow, named)
    for number in sorted(named - {cert.number for cert in certs}):
        log.warning("spot check names an unknown certificate", certificate=number)
    for cert in certs:
        if cert.holder_uscc != event.holder_uscc:
            log.warning("spot check names a certificate of another holder", certificate=cert.number)
            continue
        if cert.status is not domain.Status.VALID:
            log.info("spot check names a certificate that is not valid", certificate=cert.number, status=cert.status)
            continue  # already suspended, withdrawn...: nothing more to do
        cert.suspend(
            domain.SuspensionReason.SPOT_CHECK_FAILED, at=at, cause_event_id=cause,
            suspended_by=event.inspection_id, note=event.findings[:1000], months=months,
        )
        await _apply(uow, cert)


async def reinstate_after_rectification(uow: UnitOfWork, event: events.RectificationVerifiedV1) -> None:
    """DESIGN flow 2: of the certificates the verification names, exactly those still
    suspended by that spot check are reinstated (not those suspended for another cause)."""
    cause, at = uow.cause_event_id, _now()
    for cert in await _load_many(uow, event.certificate_numbers):
        if not cert.is_suspended_by_spot_check(event.spot_check_id):
            log.info("rectification names a certificate that spot check did not suspend", certificate=cert.number)
            continue
        try:
            cert.reinstate_after_rectification(event.spot_check_id, at=at, cause_event_id=cause)
        except domain.IllegalTransition as exc:
            # Too late: the suspension deadline or the validity has passed; the scheduler acts instead.
            log.warning("rectification cannot reinstate", certificate=cert.number, rule=exc.rule)
            continue
        await _apply(uow, cert)


async def suspend_for_revoked_body(uow: UnitOfWork, event: events.ApprovalRevokedV1, months: int) -> None:
    """DESIGN flow 3: every valid certificate the revoked body issued is suspended, one
    certificate.suspended event each, in this one transaction.

    Set-based, because a body can hold a hundred thousand certificates. The transition is the
    same for each of them (valid to suspended, one reason, one deadline, one cause), so the
    domain decides it once, on one of them; one conditional UPDATE then moves exactly the
    certificates that are valid at that instant and returns their numbers and holders, and
    the history rows and outbox rows are written by executemany. A certificate another
    writer has already moved out of ``valid`` is not matched, so it is never transitioned
    twice.
    """
    cause, at = uow.cause_event_id, _now()
    if _concerns_known_approval(await _body(uow, event.organisation_uscc), event):
        await uow.session.execute(
            sa.update(db.bodies).where(db.bodies.c.uscc == event.organisation_uscc).values(status="revoked", updated_at=at)
        )
    c = db.certificates
    of_body = (c.c.issuing_body_uscc == event.organisation_uscc, c.c.status == domain.Status.VALID.value)
    probe = (await uow.session.execute(sa.select(c).where(*of_body).limit(1))).first()
    if probe is None:
        log.info("certificates of a revoked body suspended", body=event.organisation_uscc, count=0)
        return
    reason = domain.SuspensionReason.ISSUING_BODY_REVOKED
    template = _to_domain(probe)
    entry = template.suspend(
        reason, at=at, cause_event_id=cause, suspended_by=event.approval_id, until=domain.add_months(at.date(), months)
    )
    moved = (
        await uow.session.execute(
            sa.update(c)
            .where(*of_body)
            .values(
                status=template.status.value, suspension_reason=template.suspension_reason,
                suspended_until=template.suspended_until, suspended_by=template.suspended_by,
                last_change_at=at, last_change_reason=entry.reason, version=c.c.version + 1,
            )
            .returning(c.c.number, c.c.holder_uscc)
        )
    ).all()
    moved.sort()
    history = _history_row("", entry)
    await shared_db.insert_many(uow.session, db.history, [{**history, "certificate_number": n} for n, _ in moved])
    for number, holder in moved:
        # Built without re-validation: every value was validated at issuance and is read back
        # from our own rows; checking two USCCs per event would be a third of a bulk suspension.
        uow.emit(events.CertificateSuspendedV1.model_construct(
            certificate_number=number, issuing_body_uscc=event.organisation_uscc, holder_uscc=holder,
            reason=entry.reason, suspended_until=template.suspended_until,
        ))
    log.info("certificates of a revoked body suspended", body=event.organisation_uscc, count=len(moved))


# --- requests --------------------------------------------------------------------------


async def issue(runtime: ServiceRuntime, principal: Principal, request: dict[str, Any]) -> dict[str, Any]:
    """Issue a certificate within the body's approved scope (read model of approval events)."""
    issuer = principal.org or ""
    scheme = domain.Scheme.parse(request["scheme"])
    today = _today()
    valid_from = request.get("valid_from") or today
    valid_until = request.get("valid_until") or domain.default_valid_until(scheme, valid_from)
    if valid_until < today:
        raise DomainError(f"valid_until {valid_until} has passed: a certificate is not issued expired", field="valid_until")
    async with runtime.unit_of_work() as uow:
        domain.may_issue(_standing(await _body(uow, issuer), issuer), request["field"])
        prefix = domain.number_prefix(scheme, valid_from.year, issuer)
        number = domain.certificate_number(prefix, await _next_sequence(uow, prefix))
        at = _now()
        cert = domain.Certificate.issue(
            number=number, issuing_body_uscc=issuer, holder_uscc=request["holder_uscc"],
            holder_name=request["holder_name"], scheme=scheme.value, field=request["field"], product=request["product"],
            standard=request["standard"], valid_from=valid_from, valid_until=valid_until, at=at, actor=principal.actor,
        )
        await uow.session.execute(
            sa.insert(db.certificates).values(
                number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc,
                holder_name=cert.holder_name, scheme=cert.scheme, field=cert.field, product=cert.product,
                standard=cert.standard, valid_from=cert.valid_from, valid_until=cert.valid_until,
                status=cert.status.value, last_change_at=at, last_change_reason=cert.history[-1].reason, version=1,
            )
        )
        await _write_history(uow, [cert])
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
    """Allocate the next sequence of a number prefix in one atomic statement (an upsert that
    returns the new value), so that concurrent issuers never draw the same number."""
    t = db.number_sequences
    if uow.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (
        insert(t).values(prefix=prefix, last=1)
        .on_conflict_do_update(index_elements=[t.c.prefix], set_={"last": t.c.last + 1})
        .returning(t.c.last)
    )
    return int((await uow.session.execute(statement)).scalar_one())


async def transition(
    runtime: ServiceRuntime,
    principal: Principal,
    number: str,
    action: str,
    reason: str,
    holder_reference: str | None,
    note: str | None = None,
) -> dict[str, Any]:
    """A transition requested by the issuing body or the regulator (``domain.may_manage``)."""
    async with runtime.unit_of_work() as uow:
        cert = await _load(uow, number)
        if cert is None:
            raise NotFound(f"certificate {number} not found", field="number")
        regulator = principal.role is Role.REGULATOR
        body = None
        if action == "reinstate" and not regulator:
            body = _standing(await _body(uow, cert.issuing_body_uscc), cert.issuing_body_uscc)
        domain.may_manage(
            cert, action, reason=reason, regulator=regulator, org=principal.org,
            holder_reference=holder_reference, body=body,
        )
        holder_request = domain.is_holder_request(action, reason)
        at, actor = _now(), principal.actor
        match action:
            case "suspend":
                cert.suspend(reason, at=at, actor=actor, suspended_by=holder_reference if holder_request else None,
                             note=note, months=runtime.settings.suspension_months)
            case "reinstate":
                cert.reinstate(reason, at=at, actor=actor)
            case "withdraw":
                cert.withdraw(reason, at=at, actor=actor)
            case "cancel":
                cert.cancel(reason, at=at, actor=actor)
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
        "last_change": {"at": row.last_change_at.isoformat(), "reason": row.last_change_reason},
        "last_change_at": row.last_change_at.isoformat(),
    }


async def get_certificate(runtime: ServiceRuntime, principal: Principal, number: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.certificates).where(db.certificates.c.number == number))).first()
        if row is None:
            raise NotFound(f"certificate {number} not found", field="number")
        if principal.role is not Role.REGULATOR and row.issuing_body_uscc != principal.org:
            raise domain.ActionForbidden(
                "not_issuing_body",
                f"certificate {number} was issued by another certification body; its public status is at "
                f"/public/certificates/{number}",
            )
        entries = (
            await session.execute(
                sa.select(db.history).where(db.history.c.certificate_number == number).order_by(db.history.c.id)
            )
        ).all()
    return {
        **_summary(row),
        "history": [
            {"from": h.from_status, "to": h.to_status, "reason": h.reason, "actor": h.actor,
             "cause_event_id": h.cause_event_id, "at": h.at.isoformat(), "note": h.note}
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
    db.certificates.c.last_change_reason,
]


def _normalised(number: str) -> str:
    return number.strip().upper()


async def verify(runtime: ServiceRuntime, number: str) -> dict[str, Any]:
    """Public status of one certificate: one primary-key lookup, flat from thousands to millions."""
    number = _normalised(number)
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(*_PUBLIC).where(db.certificates.c.number == number))).first()
    if row is None:
        raise NotFound(f"no certificate numbered {number}", field="number")
    return _summary(row)


async def verify_many(runtime: ServiceRuntime, numbers: list[str]) -> dict[str, Any]:
    """Public status of up to MAX_VERIFY_BATCH certificates in one primary-key IN query; numbers
    not in the register are answered as ``unknown``, in the order asked (duplicates once)."""
    if len(numbers) > MAX_VERIFY_BATCH:
        raise DomainError(
            f"at most {MAX_VERIFY_BATCH} numbers per request, {len(numbers)} given", field="numbers"
        )
    wanted = list(dict.fromkeys(_normalised(n) for n in numbers))
    async with runtime.sessions() as session:
        rows = (await session.execute(sa.select(*_PUBLIC).where(db.certificates.c.number.in_(wanted)))).all()
    found = {r.number: _summary(r) for r in rows}
    results = [found.get(n, {"number": n, "status": "unknown"}) for n in wanted]
    return {"count": len(results), "unknown": len(results) - len(found), "results": results}
