"""Automatic transitions caused by other services' events (DESIGN flows 1, 2 and 3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import structlog

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork

from certificates import db, domain
from certificates.service import digital
from certificates.service.bodies import record_body_revoked
from certificates.service.transitions import record_transition

log = structlog.get_logger("certificates")


async def suspend_for_failed_spot_check(uow: UnitOfWork, event: events.SpotCheckFailedV1, months: int) -> None:
    """DESIGN flow 1: the named valid certificates of the holder are suspended, each with a
    deadline ``months`` later, remembering the spot check so that its rectification can
    reinstate exactly them.

    The suspension is the same for each of them (one reason, deadline, cause and spot check),
    so the domain decides it once, on a stand-in valid certificate of the holder; one
    conditional UPDATE ... RETURNING then moves exactly the named certificates of that holder
    that are valid at that instant (no read first). Only when some named one was not moved is it
    read, to log why."""
    named = set(event.certificate_numbers)
    template = _valid_stand_in(event.holder_uscc, uow.clock.today())
    template.suspend(
        domain.SuspensionReason.SPOT_CHECK_FAILED, at=uow.clock.now(), today=uow.clock.today(),
        cause_event_id=uow.cause_event_id, suspended_by=event.inspection_id, note=event.findings[:1000], months=months,
    )
    c = db.certificates
    moved = await db.move_certificates(uow.session, [
        c.c.number.in_(named), c.c.holder_uscc == event.holder_uscc,
        db.status_in(c.c.status, domain.allowed_from(domain.Action.SUSPEND)),
    ], template)
    if len(moved) < len(named):
        await _log_not_suspended(uow, event, named - {number for number, *_ in moved})
    await _follow_status_lists(uow, template, moved)
    for number, holder, body, _ in moved:
        uow.emit(events.CertificateSuspendedV1(
            certificate_number=number, issuing_body_uscc=body, holder_uscc=holder,
            reason=template.history[-1].reason, suspended_until=template.suspended_until,
        ))


async def _follow_status_lists(uow: UnitOfWork, template: domain.Certificate, moved: Sequence[Any]) -> None:
    """The status list bits of each moved (number, holder, body, index), body by body."""
    by_body: dict[str, dict[int | None, domain.Status]] = {}
    for _, _, body, index in moved:
        by_body.setdefault(body, {})[index] = template.status
    for body, statuses in by_body.items():
        await digital.follow_statuses(uow.session, body, statuses, template.history[-1].at)


def _valid_stand_in(holder: str, today: dt.date) -> domain.Certificate:
    """A valid certificate of ``holder`` standing for each one a set-based transition moves."""
    return domain.Certificate(number="", issuing_body_uscc="", holder_uscc=holder, holder_name="", scheme="",
                              field="", product="", standard="", valid_from=today, valid_until=today)


async def _log_not_suspended(uow: UnitOfWork, event: events.SpotCheckFailedV1, numbers: set[str]) -> None:
    found = {cert.number: cert for cert in await db.load_certificates(uow.session, numbers)}
    for number in sorted(numbers):
        cert = found.get(number)
        if cert is None:
            log.warning("spot check names an unknown certificate", certificate=number)
        elif cert.holder_uscc != event.holder_uscc:
            log.warning("spot check names a certificate of another holder", certificate=number)
        else:  # already suspended, withdrawn...: nothing more to do
            log.info("spot check names a certificate that is not valid", certificate=number, status=cert.status)


async def reinstate_after_rectification(uow: UnitOfWork, event: events.RectificationVerifiedV1) -> None:
    """DESIGN flow 2: of the certificates the verification names, exactly those still
    suspended by that spot check are reinstated (not those suspended for another cause, nor
    those of a body whose approval has since been revoked)."""
    cause, at, today = uow.cause_event_id, uow.clock.now(), uow.clock.today()
    for cert in await db.load_certificates(uow.session, event.certificate_numbers):
        if not cert.is_suspended_by_spot_check(event.spot_check_id):
            log.info("rectification names a certificate that spot check did not suspend", certificate=cert.number)
            continue
        try:
            domain.may_be_reinstated(cert, await db.load_body(uow.session, cert.issuing_body_uscc))
            cert.reinstate_after_rectification(event.spot_check_id, at=at, today=today, cause_event_id=cause)
        except (domain.IllegalTransition, domain.IssuingBodyRevoked) as exc:
            # Too late (the suspension deadline or the validity has passed: the scheduler acts
            # instead), or the body is revoked: the certificate stays suspended.
            log.warning("rectification cannot reinstate", certificate=cert.number, rule=exc.rule)
            continue
        await record_transition(uow, cert)


async def suspend_for_revoked_body(uow: UnitOfWork, event: events.ApprovalRevokedV1, months: int) -> None:
    """DESIGN flow 3: every certificate the revoked body issued that may be suspended
    (``domain.SUSPENDED_ON_REVOCATION``) is suspended, one certificate.suspended event each,
    in this one transaction, their status list bits with them.

    Set-based, because a body can hold a hundred thousand certificates. The transition is the
    same for each of them (one reason, one deadline, one cause), so the domain decides it once,
    on one of them; one conditional UPDATE then moves exactly the certificates in those
    statuses at that instant, and the history and outbox rows are written by executemany. A
    certificate another writer has already moved on is not matched, so it is never
    transitioned twice.
    """
    body, affected = event.organisation_uscc, domain.SUSPENDED_ON_REVOCATION
    await record_body_revoked(uow, event)
    template = await db.any_certificate_of_body(uow.session, body, affected)
    if template is None:
        log.info("certificates of a revoked body suspended", body=body, count=0)
        return
    template.suspend(
        domain.SuspensionReason.ISSUING_BODY_REVOKED, at=uow.clock.now(), today=uow.clock.today(),
        cause_event_id=uow.cause_event_id, suspended_by=event.approval_id, months=months,
    )
    moved = await db.move_certificates_of_body(uow.session, body, affected, template)
    await _follow_status_lists(uow, template, moved)
    _emit_suspensions(uow, body, template, moved)
    log.info("certificates of a revoked body suspended", body=body, count=len(moved))


def _emit_suspensions(uow: UnitOfWork, body: str, template: domain.Certificate, moved: Sequence[Any]) -> None:
    """One certificate.suspended event per (number, holder, body, index) moved like ``template``."""
    reason, until = template.history[-1].reason, template.suspended_until
    for number, holder, *_ in moved:
        # Built without re-validation: every value was validated at issuance and is read back
        # from our own rows; checking two USCCs per event would be a third of a bulk suspension.
        uow.emit(events.CertificateSuspendedV1.model_construct(
            certificate_number=number, issuing_body_uscc=body, holder_uscc=holder, reason=reason,
            suspended_until=until,
        ))
