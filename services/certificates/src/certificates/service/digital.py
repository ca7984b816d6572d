"""Digital certificates: each certificate's signed credential (signed at issuance, in its
transaction; certificates from before, or from while no key was configured, are signed on first
request), the issuing bodies' status lists that follow every status change, and the public
reading of both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared import credentials
from conformity_shared.clock import time_zone
from conformity_shared.errors import DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime

from certificates import db, domain
from certificates.rendering.document import Renderer
from certificates.settings import CertificatesSettings
from certificates.signing import KeyRing


class DigitalUnavailable(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "credential", [], 503)


@dataclass(frozen=True)
class Digital:
    """What signing and publishing need, built once per app (the runtime's context)."""

    keys: KeyRing
    base_url: str | None
    zone: ZoneInfo
    status_list_max_age: int
    font_file: Path | None
    documents: Renderer = field(default_factory=lambda: Renderer(None))

    @classmethod
    def from_settings(cls, settings: CertificatesSettings) -> Digital:
        return cls(KeyRing.from_settings(settings), settings.credential_base_url(), time_zone(settings.time_zone),
                   settings.status_list_max_age_seconds, settings.certificate_font_file,
                   Renderer(settings.certificate_font_file))

    @property
    def configured(self) -> bool:
        return self.keys.signing is not None and self.base_url is not None

    def require(self) -> str:
        """The public base URL, once signing is configured; else DigitalUnavailable."""
        if self.keys.signing is None or self.base_url is None:
            raise DigitalUnavailable(
                "digital certificates are not configured here (CONFORMITY_CREDENTIAL_SIGNING_KEY and "
                "CONFORMITY_PUBLIC_BASE_URL)"
            )
        return self.base_url


def digital_of(runtime: ServiceRuntime[Any]) -> Digital:
    return runtime.context.digital


def normalised(number: str) -> str:
    return number.strip().upper()


@dataclass(frozen=True)
class SignedCredential:
    status_index: int
    kid: str
    token: str


async def credential_for(session: AsyncSession, digital: Digital, cert: domain.Certificate) -> SignedCredential | None:
    """Allocate ``cert``'s status list index and sign its credential (None when signing is not
    configured: the credential is then signed on first request)."""
    if not digital.configured:
        return None
    body = await db.issuing_body(session, cert.issuing_body_uscc)
    if body is None:  # issuance checks the body's approval: only a row written by hand has none
        body = domain.IssuingBody(uscc=cert.issuing_body_uscc, name="", approval_id="", fields=())
    index = await db.allocate_status_index(session, cert.issuing_body_uscc)
    claims = domain.certificate_credential(cert, body, base_url=digital.require(), status_index=index, zone=digital.zone)
    return SignedCredential(index, digital.keys.kid or "", digital.keys.sign(claims))


async def sign_certificate(session: AsyncSession, digital: Digital, cert: domain.Certificate, at: Any) -> str | None:
    """Give an existing certificate its status list index and its signed credential, in the
    caller's transaction, and set its status bits when its status is not valid."""
    signed = await credential_for(session, digital, cert)
    if signed is None:
        return None
    await db.save_credential(session, cert.number, signed.kid, signed.token, at, status_index=signed.status_index)
    if any(domain.status_bits(cert.status).values()):
        await db.follow_statuses(session, cert.issuing_body_uscc, {signed.status_index: cert.status}, at)
    return signed.token


async def follow_statuses(session: AsyncSession, body: str, statuses: Mapping[int | None, domain.Status], at: Any) -> None:
    """The body's status lists follow these certificates' new statuses (by status index;
    certificates not yet signed have none and are skipped)."""
    await db.follow_statuses(session, body, {i: s for i, s in statuses.items() if i is not None}, at)


async def credential(runtime: ServiceRuntime[CertificatesSettings], number: str) -> str:
    """The certificate's signed credential (vc+jwt), signing it now if it has none yet."""
    number = normalised(number)
    async with runtime.sessions() as session:
        token = await db.credential_token(session, number)
    if token is not None:
        return token
    digital = digital_of(runtime)
    async with runtime.unit_of_work() as uow:
        cert = await db.load_certificate(uow.session, number)  # locked: one signer per certificate
        if cert is None:
            raise NotFound(f"no certificate numbered {number}", field="number")
        token = await db.credential_token(uow.session, number)
        if token is None:
            digital.require()
            token = await sign_certificate(uow.session, digital, cert, uow.clock.now())
            await uow.commit()
    assert token is not None
    return token


@dataclass(frozen=True)
class StatusListAnswer:
    etag: str
    token: str | None  # None: the client's copy is current (304)
    max_age: int


async def status_list(
    runtime: ServiceRuntime[CertificatesSettings], body: str, purpose: str, if_none_match: str | None
) -> StatusListAnswer:
    """The body's status list for ``purpose`` as a signed BitstringStatusListCredential, with an
    ETag naming its state and the signing key (no new signature when the client's copy is current)."""
    if purpose not in credentials.STATUS_PURPOSES:
        raise NotFound(f"no status list purpose {purpose!r} (suspension or revocation)", field="purpose")
    digital = digital_of(runtime)
    base_url = digital.require()
    async with runtime.sessions() as session:
        row = await db.status_list(session, body, purpose)
        entries = await db.status_entries(session, body)
    if row is None and entries == 0:
        raise NotFound(f"no status list of body {body}", field="body")
    version = row.version if row else 0
    # The list's state: its changes, its length (it grows in 16 KiB steps, not with each issuance), the key.
    size = credentials.status_list_bytes(entries)
    etag = '"' + hashlib.sha256(f"{body}/{purpose}/{version}/{size}/{digital.keys.kid}".encode()).hexdigest()[:32] + '"'
    max_age = digital.status_list_max_age
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return StatusListAnswer(etag, None, max_age)
    as_of = row.updated_at if row and row.version else runtime.clock.now().replace(microsecond=0)
    claims = domain.status_list_credential(
        body, purpose, credentials.encode_status_list(row.bits if row else b"", entries),
        base_url=base_url, as_of=as_of, ttl_seconds=max_age,
    )
    return StatusListAnswer(etag, digital.keys.sign(claims), max_age)


async def status_page_row(runtime: ServiceRuntime[CertificatesSettings], number: str) -> tuple[Any, Any]:
    """The public columns of the certificate (None when not in the register) and its body's name."""
    number = normalised(number)
    async with runtime.sessions() as session:
        row = await db.public_row(session, number)
        body = await db.issuing_body(session, row.issuing_body_uscc) if row else None
    return row, body
