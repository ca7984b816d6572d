"""The transitions a certification body or the regulator requests on one certificate, one use
case each; who may request what is the domain's (``domain.may_manage``)."""

from __future__ import annotations

from typing import Any

from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from certificates import db, domain
from certificates.commands import CancelCertificate, ReinstateCertificate, SuspendCertificate, WithdrawCertificate
from certificates.service.transitions import record_transition
from certificates.service.views import get_certificate
from certificates.settings import CertificatesSettings

Action = domain.Action


async def suspend(
    runtime: ServiceRuntime[CertificatesSettings], principal: Principal, command: SuspendCertificate
) -> dict[str, Any]:
    """Suspend a valid certificate until ``suspension_months`` later; at the holder's request
    (through the issuing body) the holder's reference is recorded and names the suspension."""
    async with runtime.unit_of_work() as uow:
        cert = await _may_request(uow, principal, command.number, Action.SUSPEND, command.reason,
                                  command.holder_reference)
        holder_request = domain.is_holder_request(Action.SUSPEND, command.reason)
        at = uow.clock.now()
        cert.suspend(command.reason, at=at, today=uow.clock.today(), actor=principal.actor, note=command.note,
                     suspended_by=command.holder_reference if holder_request else None,
                     months=runtime.settings.suspension_months)
        if holder_request:
            await db.record_holder_request(uow.session, cert.number, Action.SUSPEND, principal.org,
                                           command.holder_reference, at)
        await record_transition(uow, cert)
        await uow.commit()
    return await get_certificate(runtime, principal, command.number)


async def reinstate(runtime: ServiceRuntime, principal: Principal, command: ReinstateCertificate) -> dict[str, Any]:
    """Make a suspended certificate valid again, on or before its suspension deadline."""
    async with runtime.unit_of_work() as uow:
        cert = await _may_request(uow, principal, command.number, Action.REINSTATE, command.reason)
        cert.reinstate(command.reason, at=uow.clock.now(), today=uow.clock.today(), actor=principal.actor)
        await record_transition(uow, cert)
        await uow.commit()
    return await get_certificate(runtime, principal, command.number)


async def withdraw(runtime: ServiceRuntime, principal: Principal, command: WithdrawCertificate) -> dict[str, Any]:
    """Withdraw (撤销) a valid or suspended certificate."""
    async with runtime.unit_of_work() as uow:
        cert = await _may_request(uow, principal, command.number, Action.WITHDRAW, command.reason)
        cert.withdraw(command.reason, at=uow.clock.now(), actor=principal.actor)
        await record_transition(uow, cert)
        await uow.commit()
    return await get_certificate(runtime, principal, command.number)


async def cancel(runtime: ServiceRuntime, principal: Principal, command: CancelCertificate) -> dict[str, Any]:
    """Cancel (注销) a certificate at the holder's request, made through the issuing body with
    the holder's written request, which is recorded."""
    async with runtime.unit_of_work() as uow:
        cert = await _may_request(uow, principal, command.number, Action.CANCEL, command.reason,
                                  command.holder_reference)
        at = uow.clock.now()
        cert.cancel(command.reason, at=at, actor=principal.actor)
        await db.record_holder_request(uow.session, cert.number, Action.CANCEL, principal.org,
                                       command.holder_reference, at)
        await record_transition(uow, cert)
        await uow.commit()
    return await get_certificate(runtime, principal, command.number)


async def _may_request(
    uow: UnitOfWork,
    principal: Principal,
    number: str,
    action: domain.Action,
    reason: str,
    holder_reference: str | None = None,
) -> domain.Certificate:
    """The certificate, locked, once the caller may request ``action`` on it; else NotFound,
    ActionForbidden or DomainError."""
    cert = await db.load_certificate(uow.session, number)
    if cert is None:
        raise NotFound(f"certificate {number} not found", field="number")
    regulator = principal.role is Role.REGULATOR
    # A reinstatement depends on the issuing body's standing: a body reinstating vouches for the
    # certificate again, and nobody reinstates a certificate of a revoked body.
    body = await db.load_body(uow.session, cert.issuing_body_uscc) if action is Action.REINSTATE else None
    domain.may_manage(cert, action, reason=reason, regulator=regulator, org=principal.org,
                      holder_reference=holder_reference, body=body)
    return cert
