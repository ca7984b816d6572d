"""Development signing keys: the Ed25519 keys the development issuer publishes and signs with,
which `conformity-token`, the operator CLI's local commands and the tests sign with too.

Their key id starts with `dev-`, so every service refuses them unless CONFORMITY_ENV=development.
The development issuer's keys live outside the repository (default ~/.cache/conformity/dev-issuer,
or CONFORMITY_DEV_ISSUER_KEYS): one PEM file per key, `current` naming the one that signs. A
rotation adds a key and makes it current; the old one stays published (tokens it signed keep
verifying) until it is retired.

`conformity-dev-keys list | rotate | retire KID | jwks` manages them.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from conformity_shared.auth import Role, identity_claims
from conformity_shared.oidc import DEVELOPMENT_KEY_PREFIX
from conformity_shared.settings import DEVELOPMENT_ISSUER, PLATFORM_AUDIENCE

KEYS_VARIABLE = "CONFORMITY_DEV_ISSUER_KEYS"
DEFAULT_TTL = dt.timedelta(hours=12)


def default_key_dir() -> Path:
    given = os.environ.get(KEYS_VARIABLE)
    return Path(given) if given else Path.home() / ".cache" / "conformity" / "dev-issuer"


def development_issuer() -> str:
    """The issuer development tokens name: CONFORMITY_OIDC_ISSUER, else the development issuer's URL."""
    return os.environ.get("CONFORMITY_OIDC_ISSUER") or DEVELOPMENT_ISSUER


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, prefix: str = DEVELOPMENT_KEY_PREFIX) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        return cls(prefix + thumbprint(public_jwk_of(private))[:16], private)

    def public_jwk(self) -> dict[str, str]:
        return {**public_jwk_of(self.private), "kid": self.kid, "use": "sig", "alg": "EdDSA"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid, "typ": "JWT"})

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def public_jwk_of(private: Ed25519PrivateKey) -> dict[str, str]:
    return json.loads(OKPAlgorithm.to_jwk(private.public_key()))


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the key's required members, in order, without spaces."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def jwks(keys: list[SigningKey]) -> dict[str, list[dict[str, str]]]:
    return {"keys": [key.public_jwk() for key in keys]}


def access_token(
    key: SigningKey, role: Role | str, *, org: str | None = None, inspector_id: str | None = None,
    subject: str | None = None, issuer: str | None = None, audience: str = PLATFORM_AUDIENCE,
    ttl: dt.timedelta = DEFAULT_TTL, extra: dict[str, Any] | None = None,
) -> str:
    """An access token as the development issuer signs it (ValueError if the claims do not fit the role)."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        **identity_claims(role, org=org, inspector_id=inspector_id, subject=subject),
        "iss": issuer or development_issuer(), "aud": audience, "iat": now, "nbf": now, "exp": now + ttl,
        "jti": str(uuid.uuid4()), **(extra or {}),
    }
    return key.sign(claims)


class KeyStore:
    """The development issuer's keys in a directory: `<kid>.pem` each, `current` naming the signer."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_key_dir()

    @property
    def current_file(self) -> Path:
        return self.directory / "current"

    def signing_key(self) -> SigningKey:
        """The key that signs now, made on first use."""
        if not self.current_file.exists():
            self._create_first()
        return self.load(self.current_file.read_text().strip())

    def published(self) -> list[SigningKey]:
        """Every key the issuer publishes: the current one first, then those not yet retired."""
        current = self.signing_key()
        others = sorted(p.stem for p in self.directory.glob(f"{DEVELOPMENT_KEY_PREFIX}*.pem") if p.stem != current.kid)
        return [current, *(self.load(kid) for kid in others)]

    def load(self, kid: str) -> SigningKey:
        private = serialization.load_pem_private_key((self.directory / f"{kid}.pem").read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{kid}.pem is not an Ed25519 key")
        return SigningKey(kid, private)

    def rotate(self) -> SigningKey:
        """A new key signs from now on; the old one stays published until retired."""
        self.signing_key()
        key = self._write(SigningKey.generate())
        self._replace_current(key.kid)
        return key

    def retire(self, kid: str) -> None:
        """Stop publishing a key: tokens it signed no longer verify once the services re-read the keys."""
        if kid == self.signing_key().kid:
            raise ValueError(f"{kid} signs now: rotate first, then retire it")
        (self.directory / f"{kid}.pem").unlink()

    def _write(self, key: SigningKey) -> SigningKey:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{key.kid}.pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key.pem())
        return key

    def _create_first(self) -> None:
        key = self._write(SigningKey.generate())
        try:  # the issuer and conformity-token may both make the first key: the first to name it wins
            descriptor = os.open(self.current_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            (self.directory / f"{key.kid}.pem").unlink()
            return
        with os.fdopen(descriptor, "w") as out:
            out.write(key.kid)

    def _replace_current(self, kid: str) -> None:
        staged = self.directory / "current.new"
        staged.write_text(kid)
        staged.replace(self.current_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformity-dev-keys", description="The development issuer's signing keys")
    parser.add_argument("--keys", type=Path, default=None, help=f"key directory (default: {KEYS_VARIABLE} or ~/.cache/conformity/dev-issuer)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the published keys, the signing one first")
    commands.add_parser("rotate", help="a new signing key; the old one stays published")
    commands.add_parser("retire", help="stop publishing a key").add_argument("kid")
    commands.add_parser("jwks", help="the public key set (JSON), e.g. for CONFORMITY_OIDC_JWKS")
    args = parser.parse_args(argv)
    store = KeyStore(args.keys)
    if args.command == "list":
        for number, key in enumerate(store.published()):
            print(f"{key.kid}{'  (signs)' if number == 0 else ''}")
    elif args.command == "rotate":
        print(store.rotate().kid)
    elif args.command == "retire":
        try:
            store.retire(args.kid)
        except (ValueError, FileNotFoundError) as exc:
            parser.error(str(exc))
    else:
        print(json.dumps(jwks(store.published())))
    return 0
