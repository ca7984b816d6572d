"""A transitioned certificate is saved with its history, its status list bits and the event of
its last transition, in the caller's unit of work (requests, reactions and the scheduler alike)."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import UnitOfWork

from certificates import db, domain
from certificates.service import digital


def transition_event(cert: domain.Certificate, transition: domain.HistoryEntry) -> events.Event:
    """The event that tells the other services about ``transition``, by where it led."""
    common = dict(
        certificate_number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc
    )
    match transition.to_status:
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
    raise AssertionError(f"no event for status {transition.to_status}")


async def record_transition(uow: UnitOfWork, cert: domain.Certificate) -> None:
    """Save a transitioned certificate and emit the event of its last transition."""
    transition = cert.history[-1]
    index = await db.save_certificate(uow.session, cert)
    await digital.follow_statuses(uow.session, cert.issuing_body_uscc, {index: cert.status}, transition.at)
    uow.emit(transition_event(cert, transition))
