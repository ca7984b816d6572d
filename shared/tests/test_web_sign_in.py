"""The web front ends' sign-in against the development issuer (both apps in process): the code
flow with PKCE opens a session cookie that is signed, HttpOnly and SameSite; a tampered cookie,
a forged state or a foreign return address get nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from conformity_devstack import identity
from conformity_shared.oidc import IdentityRefused, TokenVerifier
from conformity_shared.settings import SignInSettings
from conformity_shared.web_sign_in import WebSignIn, local_path

ISSUER = "http://127.0.0.1:8009"
FRONT = "http://127.0.0.1:8000"


def settings(**overrides: object) -> SignInSettings:
    return SignInSettings(**{"env": "development", "oidc_issuer": ISSUER, "oidc_jwks": None, "oidc_jwks_url": None,
                             "session_secret": None, **overrides})


def front_end(issuer: httpx.ASGITransport) -> FastAPI:
    config = settings()
    verifier = TokenVerifier.from_settings(config, transport=issuer)
    sign_in = WebSignIn(config, verifier, public_url=FRONT, cookie_prefix="front", transport=issuer)
    app = FastAPI()
    app.include_router(sign_in.router)

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        principal = await sign_in.session_principal(request)
        if principal is None:
            raise HTTPException(401, "not signed in")
        return {"role": principal.role, "subject": principal.subject}

    return app


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    issuer = httpx.ASGITransport(app=identity.create_app(identity.DevIssuerSettings(url=ISSUER, keys=tmp_path)))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=front_end(issuer)), base_url=FRONT) as front,
        httpx.AsyncClient(transport=issuer, base_url=ISSUER) as browser_at_issuer,
    ):
        yield front, browser_at_issuer


async def sign_in_at_issuer(front: httpx.AsyncClient, issuer: httpx.AsyncClient, **who: str) -> dict[str, list[str]]:
    """The browser's trip: the front end sends it to the issuer, the issuer back with a code."""
    leaving = await front.get("/auth/sign-in", params={"next": "/me"})
    assert leaving.status_code == 303
    authorize = urlsplit(leaving.headers["location"])
    assert authorize.path == "/authorize"
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["code_challenge_method"] == "S256" and query["redirect_uri"] == f"{FRONT}/auth/callback"
    form = {k: query[k] for k in ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method")}
    back = await issuer.post("/authorize", data={**form, **who})
    assert back.status_code == 303
    return parse_qs(urlsplit(back.headers["location"]).query)


async def test_the_code_flow_opens_a_signed_httponly_samesite_session(clients) -> None:  # noqa: ANN001
    front, issuer = clients
    back = await sign_in_at_issuer(front, issuer, role="operator", subject="ops-duty")
    finished = await front.get("/auth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert finished.status_code == 303 and finished.headers["location"] == "/me"
    cookie = next(c for c in finished.headers.get_list("set-cookie") if c.startswith("front_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert (await front.get("/me")).json() == {"role": "operator", "subject": "ops-duty"}

    front.cookies.set("front_session", front.cookies["front_session"][:-3] + "abc")  # tampered
    assert (await front.get("/me")).status_code == 401


async def test_a_callback_with_another_state_opens_no_session(clients) -> None:  # noqa: ANN001
    front, issuer = clients
    back = await sign_in_at_issuer(front, issuer, role="regulator")
    forged = await front.get("/auth/callback", params={"code": back["code"][0], "state": "attacker-state"})
    assert forged.status_code == 400 and "state does not match" in forged.text
    assert "front_session" not in front.cookies


async def test_a_callback_not_started_here_opens_no_session(clients) -> None:  # noqa: ANN001
    front, issuer = clients
    back = await sign_in_at_issuer(front, issuer, role="regulator")
    front.cookies.clear()  # the code arrives in a browser that never started this sign-in
    stray = await front.get("/auth/callback", params={"code": back["code"][0], "state": back["state"][0]})
    assert stray.status_code == 400 and "front_session" not in front.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "/\t/evil", "me"])
def test_after_sign_in_a_browser_goes_only_to_a_path_of_this_site(target: str) -> None:
    assert local_path(target) == "/"
    assert local_path("/api/events?after=10") == "/api/events?after=10"


def test_outside_development_a_session_secret_is_required() -> None:
    config = settings(env="production", oidc_issuer="https://id.example")
    with pytest.raises(IdentityRefused, match="CONFORMITY_SESSION_SECRET"):
        WebSignIn(config, TokenVerifier.from_settings(config), public_url="https://ops.example", cookie_prefix="x")
    config = settings(env="production", oidc_issuer="https://id.example", session_secret="s" * 32)
    signed = WebSignIn(config, TokenVerifier.from_settings(config), public_url="https://ops.example", cookie_prefix="x")
    assert signed.secure  # cookies of an https front end are Secure
