"""OpenID Connect on the verifying side: the issuer's discovery document, its published keys
(a JWKS: fetched, cached, refreshed when a token names an unknown key id, at most once per
`oidc_jwks_min_refresh_seconds`), and verification of its tokens: EdDSA (Ed25519) or RS256
only; signature, `iss`, `aud`, `exp`, `iat`/`nbf` with a small leeway.

No service holds a signing key: whoever holds a service's configuration can verify tokens,
never mint one. Development keys (a `kid` starting with `dev-`), inline key sets and plain-HTTP
issuers elsewhere than this machine are refused unless CONFORMITY_ENV=development.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import structlog

from conformity_shared.auth import InvalidToken, KeysUnavailable, Principal, principal_from_claims
from conformity_shared.settings import IdentitySettings

log = structlog.get_logger("conformity.oidc")

ACCEPTED_ALGORITHMS = ("EdDSA", "RS256")
# Keys made by the development issuer and the tests say so in their key id.
DEVELOPMENT_KEY_PREFIX = "dev-"
DISCOVERY_PATH = "/.well-known/openid-configuration"
FETCH_TIMEOUT_SECONDS = 5.0


class IdentityRefused(RuntimeError):
    """The identity settings are unsafe outside development: the app refuses to start."""


def is_development_key(kid: str) -> bool:
    return kid.startswith(DEVELOPMENT_KEY_PREFIX)


def plain_http_elsewhere(url: str) -> bool:
    """True for an http:// URL to a host other than this machine (loopback is this machine)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def configuration_problems(settings: IdentitySettings) -> list[str]:
    """What is unsafe in these identity settings outside development (nothing in development)."""
    if settings.development:
        return []
    problems = []
    if not settings.issuer():
        problems.append("CONFORMITY_OIDC_ISSUER is not set: name the OpenID Connect issuer whose tokens are accepted")
    if settings.oidc_jwks:
        problems.append("CONFORMITY_OIDC_JWKS (an inline key set) is for development and tests only: "
                        "the services must read the keys the issuer publishes")
    for name, url in (("CONFORMITY_OIDC_ISSUER", settings.issuer()), ("CONFORMITY_OIDC_JWKS_URL", settings.oidc_jwks_url)):
        if url and plain_http_elsewhere(url):
            problems.append(f"{name}={url} is plain http to another host: keys fetched that way can be "
                            "replaced on the wire; use https")
    return problems


def refuse_unsafe_identity(settings: IdentitySettings) -> None:
    """Raise IdentityRefused, naming the settings, when they are unsafe outside development."""
    problems = configuration_problems(settings)
    if problems:
        raise IdentityRefused(
            f"refusing to start with these identity settings while CONFORMITY_ENV={settings.env.value}: "
            + "; ".join(problems) + " (or set CONFORMITY_ENV=development on a development machine)"
        )


def usable_key(jwk: Mapping[str, Any]) -> jwt.PyJWK | None:
    """A published key we may verify with: a signing key with an id, Ed25519 or RSA for RS256."""
    if not jwk.get("kid") or jwk.get("use", "sig") != "sig":
        return None
    if jwk.get("kty") == "OKP" and jwk.get("crv") != "Ed25519":
        return None
    try:
        key = jwt.PyJWK(dict(jwk))
    except (jwt.PyJWTError, ValueError, TypeError):
        log.warning("the issuer publishes a key that cannot be read; ignored", kid=jwk.get("kid"))
        return None
    return key if key.algorithm_name in ACCEPTED_ALGORITHMS else None


def published_keys(document: Mapping[str, Any], allow_development_keys: bool) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
        if not isinstance(jwk, Mapping):
            continue
        if is_development_key(str(jwk.get("kid", ""))) and not allow_development_keys:
            log.error("the issuer publishes a development key; it is never used outside development", kid=jwk["kid"])
            continue
        key = usable_key(jwk)
        if key is not None:
            keys[str(jwk["kid"])] = key
    return keys


class IssuerKeys:
    """The issuer's public keys by key id: read from the inline JWKS, or fetched from the issuer
    (its `jwks_uri`, or `oidc_jwks_url`), cached, re-read when older than the maximum age or when
    a token names a key id not seen yet, but never more than once per the minimum interval."""

    def __init__(self, settings: IdentitySettings, *, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = settings.issuer()
        self.jwks_url = settings.oidc_jwks_url
        self.development = settings.development
        self.min_refresh_seconds = settings.oidc_jwks_min_refresh_seconds
        self.max_age_seconds = settings.oidc_jwks_max_age_seconds
        self.fetches = 0  # JWKS documents fetched: the tests count them
        self.development_kids: list[str] = []  # development keys in the last document read
        self._inline = json.loads(settings.oidc_jwks) if settings.oidc_jwks else None
        self._transport = transport
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        if self._inline is not None:
            self._read(self._inline)

    async def key(self, kid: str) -> jwt.PyJWK:
        if self._inline is None and (self._stale() or kid not in self._keys):
            await self.refresh()
        key = self._keys.get(kid)
        if key is None:
            if self._inline is None and self._fetched_at is None:
                raise KeysUnavailable("the issuer's keys could not be fetched yet; try again shortly")
            raise InvalidToken(f"unknown key id {kid!r}: the issuer publishes no such key")
        return key

    async def refresh(self) -> None:
        """Fetch the keys now, unless they were fetched (or tried) less than the minimum interval ago."""
        if self._inline is not None:
            return
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self.min_refresh_seconds:
                return
            self._attempted_at = now
            self.fetches += 1
            try:
                document = await self._fetch()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.warning("the issuer's keys could not be fetched; keeping the ones known", error=repr(exc))
                return
            self._read(document)
            self._fetched_at = now

    def _read(self, document: Mapping[str, Any]) -> None:
        self.development_kids = [str(k.get("kid")) for k in document.get("keys", [])
                                 if isinstance(k, Mapping) and is_development_key(str(k.get("kid", "")))]
        self._keys = published_keys(document, self.development)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self.max_age_seconds

    async def _fetch(self) -> Mapping[str, Any]:
        async with httpx.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT_SECONDS) as client:
            url = self.jwks_url or await self._discover(client)
            if not self.development and plain_http_elsewhere(url):
                raise ValueError(f"the issuer's jwks_uri {url} is plain http to another host")
            answer = await client.get(url)
            answer.raise_for_status()
            return answer.json()

    async def _discover(self, client: httpx.AsyncClient) -> str:
        if not self.issuer:
            raise ValueError("no issuer configured (CONFORMITY_OIDC_ISSUER) and no CONFORMITY_OIDC_JWKS_URL")
        answer = await client.get(self.issuer.rstrip("/") + DISCOVERY_PATH)
        answer.raise_for_status()
        document = answer.json()
        if document.get("issuer") != self.issuer:  # OpenID Connect Discovery 1.0, section 4.3
            raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}, not {self.issuer!r}")
        self.jwks_url = str(document["jwks_uri"])
        return self.jwks_url


# PyJWT's exceptions, most specific first, as the reason a 401 gives.
REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (iat or nbf in the future)"),
    (jwt.InvalidAudienceError, "the token is not meant for this platform (audience {audience} expected)"),
    (jwt.InvalidIssuerError, "the token was issued by another issuer ({issuer} expected)"),
    (jwt.InvalidSignatureError, "the signature does not verify with the issuer's key"),
)


class TokenVerifier:
    """Verifies bearer tokens against the issuer's published keys and maps them to principals."""

    def __init__(self, settings: IdentitySettings, keys: IssuerKeys | None = None) -> None:
        self.issuer = settings.issuer()
        self.audience = settings.oidc_audience
        self.leeway = settings.oidc_leeway_seconds
        self.development = settings.development
        self.keys = keys or IssuerKeys(settings)

    @classmethod
    def from_settings(cls, settings: IdentitySettings, *, transport: httpx.AsyncBaseTransport | None = None) -> TokenVerifier:
        """A verifier for these settings, after refusing those unsafe outside development."""
        refuse_unsafe_identity(settings)
        return cls(settings, IssuerKeys(settings, transport=transport))

    async def verify(self, token: str) -> Principal:
        return principal_from_claims(await self.claims(token))

    async def claims(self, token: str, *, audience: str | None = None, require: tuple[str, ...] = ("sub",)) -> dict[str, Any]:
        """The verified claims of `token` (for `audience`, by default the platform's); InvalidToken otherwise."""
        alg, kid = self._header(token)
        key = await self.keys.key(kid)
        if key.algorithm_name != alg:
            raise InvalidToken(f"the token says {alg} but key {kid!r} is an {key.algorithm_name} key")
        audience = audience or self.audience
        try:
            return jwt.decode(
                token, key.key, algorithms=[alg], audience=audience, issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", *require]},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token has no {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            reason = next((r for kind, r in REASONS if isinstance(exc, kind)), f"the token does not verify: {exc}")
            raise InvalidToken(reason.format(audience=audience, issuer=self.issuer)) from None

    @staticmethod
    def _header(token: str) -> tuple[str, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("not a signed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ACCEPTED_ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not accepted (only {', '.join(ACCEPTED_ALGORITHMS)})")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key id (kid)")
        return alg, kid

    async def check_at_start(self) -> None:
        """Read the issuer's keys once at start; refuse to start if they hold a development key
        outside development. An issuer that cannot be reached now is read at the first token."""
        if self.keys.development_kids and not self.development:
            raise IdentityRefused(self._development_keys_message())
        await self.keys.refresh()
        if self.keys.development_kids and not self.development:
            raise IdentityRefused(self._development_keys_message())

    def _development_keys_message(self) -> str:
        kids = ", ".join(self.keys.development_kids)
        return (f"refusing to start: the issuer's key set holds development keys ({kids}) while CONFORMITY_ENV is not "
                "development; point CONFORMITY_OIDC_ISSUER at the real issuer, or set CONFORMITY_ENV=development "
                "on a development machine")
