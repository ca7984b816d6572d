"""`conformity verify-certificate FILE`: check a digital certificate (the PDF, whose attachment is
the signed credential, or the credential itself) as any verifier would.

Checked: the signature with the platform's published keys (fetched from the certificates
service, or a JWKS file offline), the validity dates, and, online, each status entry against its
status list (itself a signed credential, checked with the same keys). Offline, the report says
what could not be checked. Every claim is under the signature, so any change is detected.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pypdf

from conformity_shared import credentials
from conformity_shared.credentials import CredentialInvalid, Verification

ATTACHMENT_NAME = "credential.jwt"  # the certificates service's rendering attaches it under this name


class Unreadable(ValueError):
    """The file is neither a certificate PDF with its credential nor a credential."""


def credential_of(data: bytes) -> str:
    """The vc+jwt in a certificate PDF (its attachment) or in a credential file."""
    if data.lstrip().startswith(b"%PDF"):
        try:
            attachments = pypdf.PdfReader(io.BytesIO(data)).attachments
        except Exception as exc:  # pypdf raises many kinds on a damaged file
            raise Unreadable(f"the PDF cannot be read: {exc}") from None
        found = attachments.get(ATTACHMENT_NAME) or []
        if not found:
            raise Unreadable(f"the PDF has no attached credential ({ATTACHMENT_NAME}): not a digital certificate")
        return found[0].decode().strip()
    try:
        text = data.decode().strip()
    except UnicodeDecodeError:
        raise Unreadable("the file is neither a PDF nor a credential (vc+jwt text)") from None
    if text.count(".") != 2:
        raise Unreadable("the file is neither a PDF nor a credential (vc+jwt text)")
    return text


async def verify_certificate(
    data: bytes, *, http: httpx.AsyncClient | None, keys_url: str | None, jwks: dict[str, Any] | None = None,
    allow_development_keys: bool = False, now: dt.datetime | None = None,
) -> Verification:
    """What can be said of the certificate in `data`: online when `http` is given (keys from
    `keys_url` unless `jwks` is, status lists from their URLs), offline otherwise."""
    now = now or dt.datetime.now(dt.UTC)
    report = Verification()
    token = credential_of(data)
    try:
        report.claims = credentials.unverified_claims(token)
        header = credentials.unverified_header(token)
    except CredentialInvalid as exc:
        report.add("form", "failed", str(exc))
        return report
    kid = str(header.get("kid", ""))

    keys = None
    if jwks is not None:
        keys = credentials.key_set(jwks, allow_development_keys=allow_development_keys)
    elif http is not None and keys_url:
        try:
            answer = await http.get(keys_url)
            answer.raise_for_status()
            keys = credentials.key_set(answer.json(), allow_development_keys=allow_development_keys)
        except (httpx.HTTPError, ValueError) as exc:
            report.add("signature", "not checked", f"the published keys could not be fetched from {keys_url}: {exc}")

    signed = False
    if kid.startswith(credentials.DEVELOPMENT_KEY_PREFIX) and not allow_development_keys:
        report.add("signature", "failed", f"signed by development key {kid}: not a production certificate "
                   "(--allow-development-keys accepts it on a development platform)")
    elif keys is not None:
        try:
            credentials.verify(token, keys)
            report.add("signature", "passed", f"Ed25519, key {kid}, issuer {report.claims.get('issuer')}")
            signed = True
        except CredentialInvalid as exc:
            report.add("signature", "failed", str(exc))
    elif not any(c.name == "signature" for c in report.checks):
        report.add("signature", "not checked", "offline and no keys given (--jwks FILE checks it offline)")

    credentials.check_dates(report.claims, now, report)

    entries = credentials.status_entries(report.claims)
    if not entries:
        report.add("status", "failed", "the credential has no status entry")
    for entry in entries:
        name = f"status ({entry.get('statusPurpose')})"
        if http is None:
            report.add(name, "not checked", "offline: the live status list was not fetched")
        elif not signed or keys is None:
            report.add(name, "not checked", "the signature did not verify: its status list URL is not trusted")
        else:
            await _check_status(http, entry, keys, report)
    return report


async def _check_status(http: httpx.AsyncClient, entry: dict[str, Any], keys: Any, report: Verification) -> None:
    name, url = f"status ({entry.get('statusPurpose')})", str(entry.get("statusListCredential", ""))
    try:
        answer = await http.get(url)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        report.add(name, "not checked", f"the status list could not be fetched from {url}: {exc}")
        return
    try:
        _, list_claims = credentials.verify(answer.text, keys)
    except CredentialInvalid as exc:
        report.add(name, "failed", f"the status list does not verify: {exc}")
        return
    credentials.check_status_entry(entry, list_claims, report.claims.get("issuer"), report)


def read_jwks(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Unreadable(f"{path}: not a readable JWKS: {exc}") from None


def summary(claims: dict[str, Any]) -> dict[str, Any]:
    """What the credential says, for the report."""
    subject = claims.get("credentialSubject") or {}
    cert, body = subject.get("certificate") or {}, subject.get("certificationBody") or {}
    return {"number": cert.get("number"), "holder": subject.get("name"), "holder_id": subject.get("id"),
            "issuing_body": body.get("name"), "issuing_body_id": body.get("id"), "product": cert.get("product"),
            "standard": cert.get("standard"), "valid_from": claims.get("validFrom"), "valid_until": claims.get("validUntil"),
            "issuer": claims.get("issuer")}
