"""Issuance: a certification body issues a certificate within its approved scope, under a
scheme the field admits."""

from __future__ import annotations

from typing import Any

from conformity_shared import events
from conformity_shared.auth import Principal
from conformity_shared.runtime import ServiceRuntime

from certificates import db, domain
from certificates.service import digital
from certificates.commands import IssueCertificate
from certificates.service.views import get_certificate


async def issue(runtime: ServiceRuntime, principal: Principal, command: IssueCertificate) -> dict[str, Any]:
    """Issue a certificate within the body's approved scope (its read model of approval events),
    numbered from the sequence of its prefix, valid from the regulator's today by default, with
    its signed digital form (in the same transaction)."""
    issuer = principal.org or ""
    scheme = domain.Scheme.parse(command.scheme)
    async with runtime.unit_of_work() as uow:
        valid_from, valid_until = domain.validity(scheme, uow.clock.today(), command.valid_from, command.valid_until)
        domain.may_issue(await db.load_body(uow.session, issuer), command.field, scheme)
        prefix = domain.number_prefix(scheme, valid_from.year, issuer)
        number = domain.certificate_number(prefix, await db.next_sequence(uow.session, prefix))
        cert = domain.Certificate.issue(
            number=number, issuing_body_uscc=issuer, holder_uscc=command.holder_uscc,
            holder_name=command.holder_name, scheme=scheme.value, field=command.field, product=command.product,
            standard=command.standard, valid_from=valid_from, valid_until=valid_until, at=uow.clock.now(),
            actor=principal.actor,
        )
        signed = await digital.credential_for(uow.session, digital.digital_of(runtime), cert)
        await db.insert_certificate(uow.session, cert, signed.status_index if signed else None)
        if signed is not None:  # a new certificate is valid: its status bits are clear already
            await db.save_credential(uow.session, number, signed.kid, signed.token, uow.clock.now())
        uow.emit(_issued(cert))
        await uow.commit()
    return await get_certificate(runtime, principal, number)


def _issued(cert: domain.Certificate) -> events.CertificateIssuedV1:
    return events.CertificateIssuedV1(
        certificate_number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc,
        holder_name=cert.holder_name, scheme=cert.scheme, field=cert.field, product=cert.product,
        standard=cert.standard, valid_from=cert.valid_from, valid_until=cert.valid_until,
    )
