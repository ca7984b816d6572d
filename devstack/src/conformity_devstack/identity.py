"""The development issuer: a small OpenID Connect provider for `make run`, the browser tests and
the web front ends' sign-in, never for production (its keys say `dev-`, which every service
refuses outside CONFORMITY_ENV=development).

It serves standard discovery (`/.well-known/openid-configuration`), its keys (`/jwks.json`),
an authorization endpoint for the authorization code flow with PKCE (S256 required) whose page
lets anyone pick a role, an organisation and an inspector id, and a token endpoint exchanging a
code and its verifier for an access token and an id token (EdDSA). Keys come from `KeyStore`
(made on first use, outside the repository), re-read at each request, so that a rotation with
`conformity-dev-keys rotate` is published at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Form, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic_settings import BaseSettings, SettingsConfigDict

from conformity_devstack import dev_keys, sign_in_page
from conformity_shared.auth import Role, identity_claims
from conformity_shared.oidc import plain_http_elsewhere
from conformity_shared.settings import DEVELOPMENT_ISSUER, PLATFORM_AUDIENCE


class DevIssuerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFORMITY_DEV_ISSUER_", extra="ignore")

    url: str = DEVELOPMENT_ISSUER  # the issuer's public URL: the tokens' iss, the base of its endpoints
    keys: Path | None = None  # default: CONFORMITY_DEV_ISSUER_KEYS, else ~/.cache/conformity/dev-issuer
    audience: str = PLATFORM_AUDIENCE
    token_minutes: float = 12 * 60
    code_seconds: float = 120
    # Where a code may be sent back: this machine (any port), and these URL prefixes.
    redirect_prefixes: list[str] = []


@dataclass(frozen=True)
class Authorization:
    """A sign-in waiting for its code to be exchanged (once, before `expires`)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    claims: dict[str, str]
    nonce: str | None
    expires: float


@dataclass
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    code_challenge_method: str
    nonce: str | None


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class DevIssuer:
    """The issuer's state: its settings, its keys, and the codes handed out but not yet exchanged."""

    def __init__(self, settings: DevIssuerSettings) -> None:
        self.settings = settings
        self.issuer = settings.url.rstrip("/")
        self.keys = dev_keys.KeyStore(settings.keys)
        self.pending: dict[str, Authorization] = {}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid"],
            "claims_supported": ["sub", "role", "org", "inspector_id"],
        }

    def redirect_allowed(self, uri: str) -> bool:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            return False
        on_this_machine = parts.scheme == "http" and not plain_http_elsewhere(uri)
        return on_this_machine or any(uri.startswith(prefix) for prefix in self.settings.redirect_prefixes)

    def problem(self, request: AuthorizationRequest) -> str | None:
        """Why this authorization request cannot be served, or None."""
        if not request.client_id:
            return "client_id is required"
        if not self.redirect_allowed(request.redirect_uri):
            return f"redirect_uri {request.redirect_uri!r} is not on this machine nor an allowed prefix"
        if request.code_challenge_method != "S256" or not request.code_challenge:
            return "PKCE is required: code_challenge with code_challenge_method=S256"
        return None

    def grant(self, request: AuthorizationRequest, claims: dict[str, str]) -> str:
        """A one-time code for these claims, to be exchanged with the request's verifier."""
        self.forget_expired()
        code = secrets.token_urlsafe(32)
        self.pending[code] = Authorization(request.client_id, request.redirect_uri, request.code_challenge, claims,
                                           request.nonce, time.monotonic() + self.settings.code_seconds)
        query = urlencode({"code": code, **({"state": request.state} if request.state else {})})
        return f"{request.redirect_uri}{'&' if '?' in request.redirect_uri else '?'}{query}"

    def forget_expired(self) -> None:
        now = time.monotonic()
        for code in [c for c, a in self.pending.items() if a.expires < now]:
            del self.pending[code]

    def exchange(self, code: str, client_id: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """Access and id tokens for a code; ValueError (invalid_grant) if anything does not match."""
        granted = self.pending.pop(code, None)  # one use, whatever happens next
        if granted is None or granted.expires < time.monotonic():
            raise ValueError("the code is unknown, used or expired")
        if granted.client_id != client_id or granted.redirect_uri != redirect_uri:
            raise ValueError("the code was issued to another client or redirect_uri")
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(s256(verifier), granted.code_challenge):
            raise ValueError("the code_verifier does not match the code_challenge")
        return self.tokens(granted)

    def tokens(self, granted: Authorization) -> dict[str, Any]:
        key = self.keys.signing_key()
        ttl = dt.timedelta(minutes=self.settings.token_minutes)
        claims = granted.claims
        access = dev_keys.access_token(
            key, claims["role"], org=claims.get("org"), inspector_id=claims.get("inspector_id"),
            subject=claims.get("sub"), issuer=self.issuer, audience=self.settings.audience, ttl=ttl,
            extra={"azp": granted.client_id, "scope": "openid"},
        )
        now = dt.datetime.now(dt.UTC)
        id_claims = {**claims, "iss": self.issuer, "aud": granted.client_id, "iat": now, "exp": now + ttl,
                     "auth_time": int(now.timestamp()), **({"nonce": granted.nonce} if granted.nonce else {})}
        return {"access_token": access, "id_token": key.sign(id_claims), "token_type": "Bearer",
                "expires_in": int(ttl.total_seconds()), "scope": "openid"}


def token_error(description: str, error: str = "invalid_grant") -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400,
                        headers={"Cache-Control": "no-store"})


def create_app(settings: DevIssuerSettings | None = None) -> FastAPI:
    issuer = DevIssuer(settings or DevIssuerSettings())
    app = FastAPI(title="Development issuer", description="OpenID Connect for development only: anyone can sign in as anyone.")
    app.state.issuer = issuer
    add_discovery_routes(app, issuer)
    add_authorization_routes(app, issuer)
    add_token_route(app, issuer)
    return app


def add_discovery_routes(app: FastAPI, issuer: DevIssuer) -> None:
    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return issuer.discovery()

    @app.get("/jwks.json")
    async def keys() -> JSONResponse:
        return JSONResponse(dev_keys.jwks(issuer.keys.published()), headers={"Cache-Control": "max-age=60"})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"service": "identity", "status": "ok", "signing_key": issuer.keys.signing_key().kid}


def add_authorization_routes(app: FastAPI, issuer: DevIssuer) -> None:
    @app.get("/authorize", response_class=HTMLResponse)
    async def authorize(
        client_id: str = "", redirect_uri: str = "", state: str | None = None, code_challenge: str = "",
        code_challenge_method: str = "", nonce: str | None = None,
        response_type: Annotated[str, Query()] = "code",
    ) -> HTMLResponse:
        request = AuthorizationRequest(client_id, redirect_uri, state, code_challenge, code_challenge_method, nonce)
        problem = "response_type must be code" if response_type != "code" else issuer.problem(request)
        if problem:
            return HTMLResponse(sign_in_page.refusal(problem), status_code=400)
        return HTMLResponse(sign_in_page.form(request, [r.value for r in Role]))

    @app.post("/authorize")
    async def sign_in(
        client_id: Annotated[str, Form()], redirect_uri: Annotated[str, Form()],
        code_challenge: Annotated[str, Form()], code_challenge_method: Annotated[str, Form()],
        role: Annotated[str, Form()], state: Annotated[str | None, Form()] = None,
        nonce: Annotated[str | None, Form()] = None, org: Annotated[str, Form()] = "",
        inspector_id: Annotated[str, Form()] = "", subject: Annotated[str, Form()] = "",
    ) -> Any:
        request = AuthorizationRequest(client_id, redirect_uri, state, code_challenge, code_challenge_method, nonce)
        problem = issuer.problem(request)
        if problem:
            return HTMLResponse(sign_in_page.refusal(problem), status_code=400)
        try:
            claims = identity_claims(role, org=org.strip() or None, inspector_id=inspector_id.strip() or None,
                                     subject=subject.strip() or None)
        except ValueError as exc:
            return HTMLResponse(sign_in_page.form(request, [r.value for r in Role], error=str(exc)), status_code=400)
        return RedirectResponse(issuer.grant(request, claims), status_code=303)


def add_token_route(app: FastAPI, issuer: DevIssuer) -> None:
    @app.post("/token")
    async def token(
        grant_type: Annotated[str, Form()], code: Annotated[str, Form()] = "", redirect_uri: Annotated[str, Form()] = "",
        client_id: Annotated[str, Form()] = "", code_verifier: Annotated[str, Form()] = "",
    ) -> JSONResponse:
        if grant_type != "authorization_code":
            return token_error(f"grant_type {grant_type!r} is not supported", "unsupported_grant_type")
        try:
            tokens = issuer.exchange(code, client_id, redirect_uri, code_verifier)
        except ValueError as exc:
            return token_error(str(exc))
        return JSONResponse(tokens, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
