"""Digital certificates as the platform publishes them, and how anyone checks one: the contract
between the certificates service (which signs) and verifiers (the `conformity` CLI, third
parties).

- A certificate's digital form is a W3C Verifiable Credential 2.0 secured as a JWT
  (VC-JOSE-COSE, `typ` `vc+jwt`): the JWT's claims are the credential itself, signed with
  Ed25519 (`alg` `EdDSA`) by the platform's issuing key; the issuer publishes its keys, the
  retired ones included, as a JWKS at `/.well-known/jwks.json`.
- Its live status is a W3C Bitstring Status List: per issuing body one list whose purpose is
  `suspension` and one whose purpose is `revocation`, each itself a signed credential
  (`BitstringStatusListCredential`); a certificate has the same index in both.

JOSE is joserfc's (a maintained, complete JOSE implementation): nothing here parses or signs
a JWS by hand. RFC 9864 deprecates the polymorphic `EdDSA` for `Ed25519`; VC verifiers still
expect `EdDSA`, so we sign with it and accept both.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey
from joserfc.jws import extract_compact

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPE = "ConformityCertificateCredential"
STATUS_LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
STATUS_ENTRY_TYPE = "BitstringStatusListEntry"
MEDIA_TYPE = "application/vc+jwt"
JWT_TYP = "vc+jwt"
SIGNING_ALGORITHM = "EdDSA"
ACCEPTED_ALGORITHMS = ["EdDSA", "Ed25519"]
JWKS_PATH = "/.well-known/jwks.json"
SUSPENSION, REVOCATION = "suspension", "revocation"
STATUS_PURPOSES = (SUSPENSION, REVOCATION)
# Bitstring Status List: at least 131,072 entries (16 KiB), so that one index tells little.
MIN_STATUS_LIST_BITS = 131_072
DEVELOPMENT_KEY_PREFIX = "dev-"


class CredentialInvalid(ValueError):
    """A credential (or status list) that does not verify: bad signature, unknown key, bad form."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """joserfc warns on every use of `EdDSA` (RFC 9864); we chose it knowingly (see above)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*EdDSA is deprecated.*")
        yield


def sign(claims: Mapping[str, Any], key: OKPKey) -> str:
    """`claims` (a credential) as a compact JWS, `typ` vc+jwt, signed with the Ed25519 `key`."""
    header = {"alg": SIGNING_ALGORITHM, "typ": JWT_TYP, "kid": key.kid}
    with _quiet():
        return jwt.encode(header, dict(claims), key, algorithms=[SIGNING_ALGORITHM])


def unverified_header(token: str) -> dict[str, Any]:
    """The JWS header, read without checking anything (to name the key it claims)."""
    try:
        return dict(extract_compact(token.strip().encode()).protected)
    except (JoseError, ValueError, TypeError) as exc:
        raise CredentialInvalid(f"not a compact JWS: {exc}") from None


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims, read without checking the signature (to say what could not be checked)."""
    try:
        return json.loads(extract_compact(token.strip().encode()).payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise CredentialInvalid(f"not a compact JWS: {exc}") from None


def key_set(document: Mapping[str, Any], *, allow_development_keys: bool) -> KeySet:
    """The Ed25519 signing keys of a published JWKS (private parts dropped); development keys
    only when allowed."""
    keys = []
    for jwk in document.get("keys", []):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not jwk.get("kid"):
            continue
        if str(jwk["kid"]).startswith(DEVELOPMENT_KEY_PREFIX) and not allow_development_keys:
            continue
        public = {k: v for k, v in jwk.items() if k != "d"}
        keys.append(OKPKey.import_key(public))
    return KeySet(keys)


def verify(token: str, keys: KeySet) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a vc+jwt whose signature one of `keys` (by its kid) verifies;
    CredentialInvalid otherwise. Checks the signature and form only, not dates or status."""
    header = unverified_header(token)
    if header.get("typ") != JWT_TYP:
        raise CredentialInvalid(f"typ is {header.get('typ')!r}, not {JWT_TYP!r}")
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise CredentialInvalid(f"alg {header.get('alg')!r} is not accepted (EdDSA/Ed25519 only)")
    kid = header.get("kid")
    if not kid or not any(k.kid == kid for k in keys.keys):
        raise CredentialInvalid(f"unknown key id {kid!r}: the issuer publishes no such key")
    try:
        with _quiet():
            decoded = jwt.decode(token.strip(), keys, algorithms=ACCEPTED_ALGORITHMS)
    except JoseError as exc:
        raise CredentialInvalid(f"signature does not verify: {exc.error or type(exc).__name__}") from None
    return dict(decoded.header), dict(decoded.claims)


# --- Bitstring Status List ------------------------------------------------------------------


def status_list_bytes(entries: int) -> int:
    """Bytes of a list that holds `entries` indexes: at least the minimum, in 16 KiB steps."""
    step = MIN_STATUS_LIST_BITS // 8
    needed = (max(entries, 1) + 7) // 8
    return max(step, -(-needed // step) * step)


def encode_status_list(bits: bytes, entries: int) -> str:
    """The `encodedList`: multibase base64url (prefix `u`, no padding) of the GZIP of the
    bitstring, padded with zeros to hold `entries` (bit 0 is the first byte's highest bit)."""
    padded = bits.ljust(status_list_bytes(max(entries, len(bits) * 8)), b"\0")
    return "u" + base64.urlsafe_b64encode(gzip.compress(padded, mtime=0)).decode().rstrip("=")


def decode_status_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise CredentialInvalid("encodedList is not multibase base64url (prefix u)")
    body = encoded[1:]
    try:
        return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, OSError, EOFError) as exc:
        raise CredentialInvalid(f"encodedList does not decode: {exc}") from None


def bit(bits: bytes, index: int) -> bool:
    """The status at `index` (out of range: unset)."""
    byte = index // 8
    return byte < len(bits) and bool(bits[byte] & (0x80 >> (index % 8)))


def with_bits(bits: bytes, changes: Mapping[int, bool]) -> bytes:
    """`bits` with each index of `changes` set or cleared, grown as needed."""
    if not changes:
        return bits
    out = bytearray(bits.ljust((max(changes) // 8) + 1, b"\0"))
    for index, value in changes.items():
        if value:
            out[index // 8] |= 0x80 >> (index % 8)
        else:
            out[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    return bytes(out)


# --- what a verifier concludes ----------------------------------------------------------------


def parse_instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else None


@dataclass
class Check:
    name: str
    outcome: str  # "passed" | "failed" | "not checked"
    detail: str = ""


@dataclass
class Verification:
    """What was checked of one credential, and what could not be."""

    checks: list[Check] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, outcome: str, detail: str = "") -> None:
        self.checks.append(Check(name, outcome, detail))

    @property
    def failed(self) -> bool:
        return any(c.outcome == "failed" for c in self.checks)

    @property
    def complete(self) -> bool:
        return all(c.outcome == "passed" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        verdict = "invalid" if self.failed else "valid" if self.complete else "incomplete"
        return {"verdict": verdict, "checks": [c.__dict__ for c in self.checks]}


def check_dates(claims: Mapping[str, Any], now: dt.datetime, report: Verification) -> None:
    valid_from, valid_until = parse_instant(claims.get("validFrom")), parse_instant(claims.get("validUntil"))
    if valid_from is None or valid_until is None:
        report.add("validity", "failed", "validFrom/validUntil missing or not date-times with a zone")
    elif now < valid_from:
        report.add("validity", "failed", f"not valid before {claims['validFrom']}")
    elif now > valid_until:
        report.add("validity", "failed", f"expired at {claims['validUntil']}")
    else:
        report.add("validity", "passed", f"{claims['validFrom']} .. {claims['validUntil']}")


def status_entries(claims: Mapping[str, Any]) -> list[dict[str, Any]]:
    status = claims.get("credentialStatus")
    entries = status if isinstance(status, list) else [status] if isinstance(status, Mapping) else []
    return [dict(e) for e in entries if isinstance(e, Mapping) and e.get("type") == STATUS_ENTRY_TYPE]


def check_status_entry(entry: Mapping[str, Any], list_claims: Mapping[str, Any], issuer: Any,
                       report: Verification) -> None:
    """One credentialStatus entry against its (already signature-checked) status list credential."""
    purpose = entry.get("statusPurpose")
    name = f"status ({purpose})"
    subject = list_claims.get("credentialSubject") or {}
    if STATUS_LIST_CREDENTIAL_TYPE not in (list_claims.get("type") or []):
        report.add(name, "failed", "the status list is not a BitstringStatusListCredential")
        return
    if list_claims.get("issuer") != issuer:
        report.add(name, "failed", "the status list has another issuer than the credential")
        return
    if subject.get("statusPurpose") != purpose:
        report.add(name, "failed", f"the list's purpose is {subject.get('statusPurpose')!r}, the entry's {purpose!r}")
        return
    try:
        index = int(entry["statusListIndex"])
        bits = decode_status_list(subject["encodedList"])
    except (KeyError, ValueError, TypeError, CredentialInvalid) as exc:
        report.add(name, "failed", f"unreadable status entry or list: {exc}")
        return
    if bit(bits, index):
        report.add(name, "failed", f"{purpose} bit set at index {index} (as of {list_claims.get('validFrom')})")
    else:
        report.add(name, "passed", f"not set at index {index} (as of {list_claims.get('validFrom')})")
