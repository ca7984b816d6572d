"""A certificate's digital form and its live status, as plain data: the W3C Verifiable
Credential 2.0 the platform signs on behalf of the issuing body, and the bits of the Bitstring
Status Lists each status sets. No keys, no I/O here: signing is the service's.

Status bits follow the certificate's status: `suspended` sets its suspension bit (reversible:
a reinstatement clears it); `withdrawn` and `cancelled` set its revocation bit (final). An
expired certificate sets neither: its credential's `validUntil` has passed, which every
verifier checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from conformity_shared.credentials import (
    CREDENTIAL_TYPE,
    REVOCATION,
    STATUS_ENTRY_TYPE,
    STATUS_LIST_CREDENTIAL_TYPE,
    SUSPENSION,
    VC_CONTEXT,
)

from certificates.domain.certificate import Certificate, Status


@dataclass(frozen=True)
class IssuingBody:
    """The certification body as the read model knows it from approval's events."""

    uscc: str
    name: str
    approval_id: str
    fields: tuple[str, ...]  # its approved scope


def status_bits(status: Status) -> dict[str, bool]:
    """The bit of each status list purpose for a certificate in ``status``."""
    return {SUSPENSION: status is Status.SUSPENDED, REVOCATION: status in (Status.WITHDRAWN, Status.CANCELLED)}


def status_page_url(base_url: str, number: str) -> str:
    return f"{base_url}/public/certificates/{number}/page"


def credential_url(base_url: str, number: str) -> str:
    return f"{base_url}/public/certificates/{number}/credential"


def status_list_url(base_url: str, body_uscc: str, purpose: str) -> str:
    return f"{base_url}/public/status-lists/{body_uscc}/{purpose}"


def _start(day: dt.date, zone: ZoneInfo) -> str:
    return dt.datetime.combine(day, dt.time(), zone).isoformat()


def _end(day: dt.date, zone: ZoneInfo) -> str:
    return dt.datetime.combine(day, dt.time(23, 59, 59), zone).isoformat()


def certificate_credential(
    cert: Certificate, body: IssuingBody, *, base_url: str, status_index: int, zone: ZoneInfo
) -> dict[str, Any]:
    """The credential of ``cert``: issued by the platform (``base_url``) on behalf of ``body``,
    naming the body, its approval and scope, the holder, the product or system, the standard
    and the validity (from the first to the end of the last day, in the regulator's zone), with
    its entries in the body's suspension and revocation lists."""
    return {
        "@context": [VC_CONTEXT],
        "id": credential_url(base_url, cert.number),
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "issuer": base_url,
        "name": "Certificate of conformity 认证证书",
        "validFrom": _start(cert.valid_from, zone),
        "validUntil": _end(cert.valid_until, zone),
        "credentialSubject": {
            "id": f"urn:uscc:{cert.holder_uscc}",
            "name": cert.holder_name,
            "certificate": {
                "number": cert.number,
                "scheme": cert.scheme,
                "field": cert.field,
                "product": cert.product,
                "standard": cert.standard,
                "validFrom": cert.valid_from.isoformat(),
                "validUntil": cert.valid_until.isoformat(),
                "statusPage": status_page_url(base_url, cert.number),
            },
            "certificationBody": {
                "id": f"urn:uscc:{body.uscc}",
                "name": body.name,
                "approval": {"id": body.approval_id, "scope": list(body.fields)},
            },
        },
        "credentialStatus": [
            {
                "id": f"{status_list_url(base_url, cert.issuing_body_uscc, purpose)}#{status_index}",
                "type": STATUS_ENTRY_TYPE,
                "statusPurpose": purpose,
                "statusListIndex": str(status_index),
                "statusListCredential": status_list_url(base_url, cert.issuing_body_uscc, purpose),
            }
            for purpose in (SUSPENSION, REVOCATION)
        ],
    }


def status_list_credential(
    body_uscc: str, purpose: str, encoded_list: str, *, base_url: str, as_of: dt.datetime, ttl_seconds: int
) -> dict[str, Any]:
    """The body's status list for ``purpose`` as a BitstringStatusListCredential, as of its last change."""
    url = status_list_url(base_url, body_uscc, purpose)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", STATUS_LIST_CREDENTIAL_TYPE],
        "issuer": base_url,
        "validFrom": as_of.isoformat(),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list,
            "ttl": ttl_seconds * 1000,  # milliseconds, as the specification counts
        },
    }
