"""Sign-in for the platform's web front ends (the operators' dashboard now, the portal later): the
OpenID Connect authorization code flow with PKCE (S256) against the platform's issuer, and a
session kept in a signed, HttpOnly, SameSite=Lax cookie that holds the access token, which is
verified again, like any bearer token, at every request (so its expiry and keys still rule).

It lives in shared because every front end needs it and none may import another's package;
the services themselves only verify bearer tokens.

    sign_in = WebSignIn(settings, verifier, public_url="https://ops.example", cookie_prefix="dashboard")
    app.include_router(sign_in.router)          # /auth/sign-in, /auth/callback, /auth/sign-out
    principal = await sign_in.session_principal(request)   # None when not signed in
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from html import escape
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from conformity_shared.auth import InvalidToken, KeysUnavailable, Principal
from conformity_shared.oidc import DISCOVERY_PATH, FETCH_TIMEOUT_SECONDS, IdentityRefused, TokenVerifier
from conformity_shared.settings import SignInSettings

log = structlog.get_logger("conformity.sign_in")

SIGN_IN_SECONDS = 600  # from leaving for the issuer to coming back with a code
CALLBACK_PATH = "/auth/callback"


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


SAFE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&+-]*")


def local_path(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//other.site`, nor a
    backslash or control character a browser might read as one)."""
    return target if target and SAFE_PATH.fullmatch(target) else "/"


def session_secret(settings: SignInSettings) -> str:
    if settings.session_secret:
        return settings.session_secret
    if settings.development:
        return secrets.token_urlsafe(32)  # sessions end with the process, which development can afford
    raise IdentityRefused("refusing to start: CONFORMITY_SESSION_SECRET is not set (at least 32 random characters); "
                          "it signs the sign-in session cookie")


class SignInFailed(Exception):
    pass


class WebSignIn:
    """The authorization code flow with PKCE for one web front end, and its session cookie."""

    def __init__(self, settings: SignInSettings, verifier: TokenVerifier, *, public_url: str, cookie_prefix: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.verifier = verifier
        self.redirect_uri = public_url.rstrip("/") + CALLBACK_PATH
        self.secure = public_url.startswith("https://")
        self.session_cookie = f"{cookie_prefix}_session"
        self.flow_cookie = f"{cookie_prefix}_sign_in"
        self.serializer = URLSafeTimedSerializer(session_secret(settings), salt=f"conformity-{cookie_prefix}")
        self.transport = transport
        self._discovery: dict[str, Any] | None = None
        self.router = self._routes()

    async def session_principal(self, request: Request) -> Principal | None:
        """Who the session cookie speaks for, or None (no cookie, tampered, or its token expired)."""
        token = self.session_token(request)
        if token is None:
            return None
        try:
            return await self.verifier.verify(token)
        except (InvalidToken, KeysUnavailable):
            return None

    def session_token(self, request: Request) -> str | None:
        cookie = request.cookies.get(self.session_cookie)
        if not cookie:
            return None
        try:
            return self.serializer.loads(cookie, max_age=24 * 3600)["access_token"]
        except (BadSignature, KeyError, TypeError):
            return None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            issuer = self.verifier.issuer or ""
            async with httpx.AsyncClient(transport=self.transport, timeout=FETCH_TIMEOUT_SECONDS) as client:
                answer = await client.get(issuer.rstrip("/") + DISCOVERY_PATH)
                answer.raise_for_status()
                self._discovery = answer.json()
        return self._discovery

    async def start(self, next_path: str | None) -> Response:
        """Leave for the issuer's sign-in page, remembering state, nonce and verifier in a signed cookie."""
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = urlencode({
            "response_type": "code", "client_id": self.settings.oidc_client_id, "redirect_uri": self.redirect_uri,
            "scope": "openid", "state": state, "nonce": nonce, "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        endpoint = (await self.discovery())["authorization_endpoint"]
        response = RedirectResponse(f"{endpoint}?{query}", status_code=303)
        flow = self.serializer.dumps({"state": state, "nonce": nonce, "verifier": verifier, "next": local_path(next_path)})
        response.set_cookie(self.flow_cookie, flow, max_age=SIGN_IN_SECONDS, path="/auth", httponly=True,
                            samesite="lax", secure=self.secure)
        return response

    async def finish(self, request: Request) -> Response:
        """The issuer sent the browser back with a code: exchange it, verify, open the session."""
        params = request.query_params
        if params.get("error"):
            return failure(f"the issuer refused the sign-in: {params.get('error')} {params.get('error_description', '')}")
        try:
            flow = self.serializer.loads(request.cookies.get(self.flow_cookie, ""), max_age=SIGN_IN_SECONDS)
        except BadSignature:
            return failure("this sign-in has expired or was not started here: start again")
        if not hmac.compare_digest(str(params.get("state", "")), flow["state"]):
            return failure("the sign-in's state does not match: start again")
        try:
            tokens = await self.exchange(str(params.get("code", "")), flow["verifier"])
            await self.check_id_token(tokens.get("id_token"), flow["nonce"])
            await self.verifier.verify(tokens["access_token"])
        except (SignInFailed, InvalidToken, KeysUnavailable, httpx.HTTPError, KeyError) as exc:
            log.warning("sign-in failed", error=repr(exc))
            return failure(f"the sign-in could not be completed: {getattr(exc, 'reason', exc)}")
        response = RedirectResponse(flow["next"], status_code=303)
        response.set_cookie(self.session_cookie, self.serializer.dumps({"access_token": tokens["access_token"]}),
                            max_age=int(tokens.get("expires_in", 3600)), path="/", httponly=True, samesite="lax",
                            secure=self.secure)
        response.delete_cookie(self.flow_cookie, path="/auth")
        return response

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": self.settings.oidc_client_id, "code_verifier": verifier}
        if self.settings.oidc_client_secret:
            form["client_secret"] = self.settings.oidc_client_secret
        endpoint = (await self.discovery())["token_endpoint"]
        async with httpx.AsyncClient(transport=self.transport, timeout=FETCH_TIMEOUT_SECONDS) as client:
            answer = await client.post(endpoint, data=form)
        if answer.status_code != 200:
            raise SignInFailed(f"the token endpoint answered {answer.status_code}: {answer.text[:200]}")
        return answer.json()

    async def check_id_token(self, id_token: str | None, nonce: str) -> None:
        if id_token is None:
            return  # the access token alone says who signed in; it is verified next
        claims = await self.verifier.claims(id_token, audience=self.settings.oidc_client_id)
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("the id token's nonce is not this sign-in's")

    def sign_out(self) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(self.session_cookie, path="/")
        return response

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix="/auth", tags=["sign-in"], include_in_schema=False)
        router.add_api_route("/sign-in", self.start_route, methods=["GET"])
        router.add_api_route("/callback", self.finish, methods=["GET"])
        router.add_api_route("/sign-out", self.sign_out, methods=["POST"])
        return router

    async def start_route(self, next: str | None = None) -> Response:  # noqa: A002 - the query parameter's name
        return await self.start(next)


def failure(message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><meta charset='utf-8'><title>Sign-in failed</title><h1>Sign-in failed</h1>"
                        f"<p role='alert'>{escape(message)}</p><p><a href='/auth/sign-in'>Sign in again</a></p>",
                        status_code=400)
