"""The development issuer: standard discovery and keys, the authorization code flow with PKCE
(S256 required, a wrong verifier refused, a code used once), tokens its published keys verify,
and a rotation that keeps the old key published."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conformity_devstack import dev_keys, identity
from conformity_shared.auth import Role
from conformity_shared.oidc import TokenVerifier
from conformity_shared.settings import IdentitySettings

ISSUER = "http://127.0.0.1:8009"
CLIENT = "conformity-dashboard"
REDIRECT = "http://127.0.0.1:8000/auth/callback"


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=identity.create_app(identity.DevIssuerSettings(url=ISSUER, keys=tmp_path)))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        client.app_transport = transport  # type: ignore[attr-defined]
        yield client


def verifier_of(issuer: httpx.AsyncClient) -> TokenVerifier:
    """A development service's verifier, reading the issuer's keys from the issuer app itself."""
    settings = IdentitySettings(env="development", oidc_issuer=ISSUER, oidc_jwks=None, oidc_jwks_url=None)
    return TokenVerifier.from_settings(settings, transport=issuer.app_transport)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def signed_in(issuer: httpx.AsyncClient, challenge: str, **who: str) -> dict[str, list[str]]:
    """Sign in on the development page; the query the browser is sent back with."""
    form = {"client_id": CLIENT, "redirect_uri": REDIRECT, "state": "s-1", "nonce": "n-1",
            "code_challenge": challenge, "code_challenge_method": "S256", **who}
    answer = await issuer.post("/authorize", data=form)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def exchange(issuer: httpx.AsyncClient, code: str, verifier: str) -> httpx.Response:
    return await issuer.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                             "client_id": CLIENT, "code_verifier": verifier})


async def test_discovery_names_the_endpoints_and_requires_s256(issuer: httpx.AsyncClient) -> None:
    document = (await issuer.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == ISSUER and document["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert document["code_challenge_methods_supported"] == ["S256"]
    [key] = (await issuer.get("/jwks.json")).json()["keys"]
    assert key["kid"].startswith("dev-") and key["crv"] == "Ed25519" and "d" not in key  # public half only


async def test_the_sign_in_page_says_it_is_for_development(issuer: httpx.AsyncClient) -> None:
    _, challenge = pkce()
    page = await issuer.get("/authorize", params={"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT,
                                                  "code_challenge": challenge, "code_challenge_method": "S256"})
    assert page.status_code == 200
    assert "Development sign-in" in page.text and "Never use it in production" in page.text
    assert all(f"value='{role.value}'" in page.text for role in Role)


@pytest.mark.parametrize("query", [
    {"code_challenge_method": "plain"},  # PKCE S256 only
    {"code_challenge": ""},
    {"redirect_uri": "https://evil.example/callback"},  # a code goes back to this machine only
])
async def test_an_authorization_request_without_s256_or_to_another_host_is_refused(issuer: httpx.AsyncClient, query) -> None:  # noqa: ANN001
    _, challenge = pkce()
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "code_challenge": challenge,
              "code_challenge_method": "S256", **query}
    assert (await issuer.get("/authorize", params=params)).status_code == 400


async def test_the_code_flow_gives_tokens_the_published_keys_verify(issuer: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    back = await signed_in(issuer, challenge, role="inspector", inspector_id="insp-7")
    assert back["state"] == ["s-1"]
    answer = await exchange(issuer, back["code"][0], verifier)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    principal = await verifier_of(issuer).verify(tokens["access_token"])
    assert (principal.role, principal.inspector_id) == (Role.INSPECTOR, "insp-7")
    id_claims = await verifier_of(issuer).claims(tokens["id_token"], audience=CLIENT)
    assert id_claims["nonce"] == "n-1"
    again = await exchange(issuer, back["code"][0], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # a code is used once


async def test_a_wrong_code_verifier_is_refused(issuer: httpx.AsyncClient) -> None:
    _, challenge = pkce()
    back = await signed_in(issuer, challenge, role="regulator")
    answer = await exchange(issuer, back["code"][0], secrets.token_urlsafe(48))
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "the code_verifier does not match the code_challenge"}


async def test_claims_that_do_not_fit_the_role_are_refused_on_the_page(issuer: httpx.AsyncClient) -> None:
    _, challenge = pkce()
    form = {"client_id": CLIENT, "redirect_uri": REDIRECT, "code_challenge": challenge, "code_challenge_method": "S256",
            "role": "agency"}
    answer = await issuer.post("/authorize", data=form)
    assert answer.status_code == 400 and "needs an organisation code" in answer.text


async def test_after_a_rotation_the_old_key_stays_published_and_its_tokens_verify(issuer: httpx.AsyncClient, tmp_path: Path) -> None:
    store = dev_keys.KeyStore(tmp_path)
    old_token = dev_keys.access_token(store.signing_key(), Role.REGULATOR, issuer=ISSUER)
    new = store.rotate()
    published = [k["kid"] for k in (await issuer.get("/jwks.json")).json()["keys"]]
    assert published[0] == new.kid and len(published) == 2
    verifier = verifier_of(issuer)
    assert (await verifier.verify(old_token)).role is Role.REGULATOR
    assert (await verifier.verify(dev_keys.access_token(new, Role.OPERATOR, issuer=ISSUER, subject="ops"))).role is Role.OPERATOR
