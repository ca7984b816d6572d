"""The platform's issuing keys for digital certificates: the current Ed25519 signing key and the
public keys it publishes (the current one and those retired by rotations, so that everything
they signed keeps verifying).

Private keys come from settings or files, never from the repository, except the development
key beside this module, whose kid says `dev-`: like the identity side (shared/oidc.py), any
`dev-` key is refused unless CONFORMITY_ENV=development.

Rotation: make a new key (`python -m certificates.signing new-key --kid certificates-2027-1`),
configure it as the signing key, and add the previous key's public part
(`python -m certificates.signing public-key < old.jwk.json`) to the retired keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from conformity_shared import credentials

from certificates.settings import CertificatesSettings

DEVELOPMENT_KEY_FILE = "DEVELOPMENT_ONLY_credential_key.jwk.json"


class SigningKeysRefused(RuntimeError):
    """The configured credential keys are unusable or unsafe here: the app refuses to start."""


@dataclass(frozen=True)
class KeyRing:
    signing: OKPKey | None  # None: digital credentials are not configured here
    retired: tuple[OKPKey, ...] = ()

    @property
    def kid(self) -> str | None:
        return self.signing.kid if self.signing else None

    def jwks(self) -> dict[str, Any]:
        """The published JWKS: public parts only, the current key first."""
        keys = ([self.signing] if self.signing else []) + list(self.retired)
        return {"keys": [_public(k) for k in keys]}

    def verifying_keys(self) -> KeySet:
        return credentials.key_set(self.jwks(), allow_development_keys=True)

    def sign(self, claims: Mapping[str, Any]) -> str:
        if self.signing is None:
            raise SigningKeysRefused("no credential signing key is configured")
        return credentials.sign(claims, self.signing)

    @classmethod
    def from_settings(cls, settings: CertificatesSettings) -> KeyRing:
        """The keys the settings name; in development without a signing key, the development key.
        SigningKeysRefused for a malformed key, a private part among the retired keys, or a
        development key outside development."""
        signing_jwk = _signing_jwk(settings)
        signing = _import_private(signing_jwk) if signing_jwk is not None else None
        retired = tuple(_import_public(jwk) for jwk in _retired_jwks(settings))
        if signing is not None and any(k.kid == signing.kid for k in retired):
            raise SigningKeysRefused(f"key {signing.kid} is both the signing key and a retired one")
        if not settings.development:
            dev = [k.kid for k in (signing, *retired) if k is not None and k.kid.startswith(credentials.DEVELOPMENT_KEY_PREFIX)]
            if dev:
                raise SigningKeysRefused(
                    f"refusing development credential keys {dev} while CONFORMITY_ENV={settings.env.value}: "
                    "configure CONFORMITY_CREDENTIAL_SIGNING_KEY(_FILE) with a key of this deployment"
                )
        return cls(signing, retired)


def _signing_jwk(settings: CertificatesSettings) -> dict[str, Any] | None:
    if settings.credential_signing_key is not None:
        return _json(settings.credential_signing_key.get_secret_value(), "CONFORMITY_CREDENTIAL_SIGNING_KEY")
    if settings.credential_signing_key_file is not None:
        return _json(settings.credential_signing_key_file.read_text(), str(settings.credential_signing_key_file))
    if settings.development:
        text = resources.files("certificates").joinpath(DEVELOPMENT_KEY_FILE).read_text()
        return _json(text, DEVELOPMENT_KEY_FILE)
    return None


def _retired_jwks(settings: CertificatesSettings) -> list[dict[str, Any]]:
    documents = []
    if settings.credential_retired_keys:
        documents.append(_json(settings.credential_retired_keys, "CONFORMITY_CREDENTIAL_RETIRED_KEYS"))
    if settings.credential_retired_keys_file is not None:
        documents.append(_json(settings.credential_retired_keys_file.read_text(), str(settings.credential_retired_keys_file)))
    keys = []
    for document in documents:
        for jwk in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
            if isinstance(jwk, Mapping) and "d" in jwk:
                raise SigningKeysRefused(f"retired key {jwk.get('kid')} carries its private part: publish public keys only")
            keys.append(dict(jwk))
    return keys


def _json(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise SigningKeysRefused(f"{where} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SigningKeysRefused(f"{where} is not a JSON object")
    return value


def _check_okp(jwk: Mapping[str, Any]) -> None:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not jwk.get("kid"):
        raise SigningKeysRefused(f"credential key {jwk.get('kid')!r} is not an Ed25519 JWK (kty OKP, crv Ed25519) with a kid")


def _import_private(jwk: Mapping[str, Any]) -> OKPKey:
    _check_okp(jwk)
    if "d" not in jwk:
        raise SigningKeysRefused(f"signing key {jwk['kid']} has no private part (d)")
    try:
        return OKPKey.import_key(dict(jwk))
    except (JoseError, ValueError) as exc:
        raise SigningKeysRefused(f"signing key {jwk['kid']} cannot be read: {exc}") from None


def _import_public(jwk: Mapping[str, Any]) -> OKPKey:
    _check_okp(jwk)
    try:
        return OKPKey.import_key(dict(jwk))
    except (JoseError, ValueError) as exc:
        raise SigningKeysRefused(f"retired key {jwk['kid']} cannot be read: {exc}") from None


def _public(key: OKPKey) -> dict[str, Any]:
    return {**key.as_dict(private=False), "use": "sig", "alg": credentials.SIGNING_ALGORITHM}


def new_key(kid: str) -> dict[str, Any]:
    """A new private Ed25519 JWK named `kid`."""
    key = OKPKey.generate_key("Ed25519", parameters={"kid": kid, "use": "sig", "alg": credentials.SIGNING_ALGORITHM})
    return key.as_dict(private=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certificates.signing", description="credential signing keys")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("new-key", help="print a new private Ed25519 JWK (keep it secret)")
    made.add_argument("--kid", required=True, help="its key id (never starting with dev- outside development)")
    commands.add_parser("public-key", help="read a private JWK on stdin, print its public part (for the retired keys)")
    args = parser.parse_args(argv)
    if args.command == "new-key":
        print(json.dumps(new_key(args.kid)))
    else:
        print(json.dumps(_public(_import_private(_json(sys.stdin.read(), "stdin")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
