"""Tokens no service can forge: a route guarded by `require` verifies bearer tokens against the
keys an issuer publishes (served over HTTP by a small issuer app, in process), and refuses every
token the issuer did not sign for this platform, with a 401 that says why."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from jwt.algorithms import RSAAlgorithm

from conformity_devstack.dev_keys import SigningKey, access_token
from conformity_shared.auth import Principal, Role, require
from conformity_shared.oidc import IdentityRefused, IssuerKeys, TokenVerifier
from conformity_shared.settings import IdentitySettings

ISSUER = "https://issuer.example"


class PublishedKeys:
    """An issuer's discovery document and key set, served over HTTP; it counts the JWKS fetches."""

    def __init__(self, *keys: dict[str, Any], issuer: str = ISSUER) -> None:
        self.keys = list(keys)
        self.fetched = 0
        self.app = FastAPI()

        @self.app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, str]:
            return {"issuer": issuer, "jwks_uri": f"{ISSUER}/jwks.json"}

        @self.app.get("/jwks.json")
        async def jwks() -> dict[str, Any]:
            self.fetched += 1
            return {"keys": self.keys}

    @property
    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**overrides: Any) -> IdentitySettings:
    # Explicit over the environment, where the test session puts its own issuer.
    return IdentitySettings(**{"env": "production", "oidc_issuer": ISSUER, "oidc_jwks": None, "oidc_jwks_url": None,
                               "oidc_jwks_min_refresh_seconds": 30, **overrides})


def guarded_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = verifier

    @app.get("/decisions")
    async def decisions(principal: Annotated[Principal, Depends(require(Role.REGULATOR))]) -> dict[str, str]:
        return {"subject": principal.subject, "role": principal.role}

    return app


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate(prefix="k-")


@pytest.fixture
def published(key: SigningKey) -> PublishedKeys:
    return PublishedKeys(key.public_jwk())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(published: PublishedKeys, clock: Clock) -> TokenVerifier:
    config = settings()
    return TokenVerifier(config, IssuerKeys(config, transport=published.transport, clock=clock))


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded_app(verifier)), base_url="http://t") as c:
        yield c


def signed(key: SigningKey, **claims: Any) -> dict[str, str]:
    token = access_token(key, Role.REGULATOR, subject="desk-officer-1", issuer=ISSUER, extra=claims)
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], signature: bytes | None = None, secret: bytes = b"") -> str:
    """A token built byte by byte, as an attacker would: `alg: none`, or HS256 keyed with public data."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if signature is None and secret:
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature or b'')}"


def regulator_claims() -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    return {"iss": ISSUER, "aud": "conformity-platform", "sub": "x", "role": "regulator", "iat": now, "exp": now + 600}


async def refused(client: httpx.AsyncClient, headers: dict[str, str], reason: str) -> None:
    answer = await client.get("/decisions", headers=headers)
    assert answer.status_code == 401, answer.text
    assert reason in answer.json()["detail"], answer.json()
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_a_token_signed_with_the_issuers_published_key_is_accepted(client: httpx.AsyncClient, key: SigningKey) -> None:
    answer = await client.get("/decisions", headers=signed(key))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"subject": "desk-officer-1", "role": "regulator"}


async def test_an_rs256_token_is_accepted_too(published: PublishedKeys, client: httpx.AsyncClient) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published.keys.append({**json.loads(RSAAlgorithm.to_jwk(private.public_key())), "kid": "rsa-1", "use": "sig"})
    token = jwt.encode(regulator_claims(), private, algorithm="RS256", headers={"kid": "rsa-1"})
    assert (await client.get("/decisions", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_a_role_the_route_does_not_admit_is_forbidden(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = access_token(key, Role.OPERATOR, subject="ops-1", issuer=ISSUER)
    answer = await client.get("/decisions", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and "operator" in answer.json()["detail"]


async def test_no_token_is_refused(client: httpx.AsyncClient) -> None:
    await refused(client, {}, "a bearer token is required")


async def test_a_token_signed_by_another_key_under_the_same_key_id_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    forger = SigningKey(key.kid, SigningKey.generate().private)
    await refused(client, signed(forger), "the signature does not verify")


async def test_a_token_from_another_issuer_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    await refused(client, signed(key, iss="https://elsewhere.example"), "another issuer")


async def test_a_token_for_another_audience_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    await refused(client, signed(key, aud="another-application"), "not meant for this platform")


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    await refused(client, signed(key, iat=past, nbf=past, exp=past + dt.timedelta(minutes=5)), "expired")


async def test_a_token_issued_in_the_future_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    await refused(client, signed(key, iat=later, nbf=later, exp=later + dt.timedelta(hours=1)), "not valid yet")


async def test_an_unsigned_token_alg_none_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    await refused(client, {"Authorization": f"Bearer {hand_made({'alg': 'none', 'kid': key.kid}, regulator_claims())}"},
                  "algorithm 'none' is not accepted")


async def test_hs256_keyed_with_the_public_key_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    # Algorithm confusion: the attacker knows the public key and uses it as an HMAC secret.
    public = json.dumps(key.public_jwk()).encode()
    for secret in (public, key.public_jwk()["x"].encode()):
        token = hand_made({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, regulator_claims(), secret=secret)
        await refused(client, {"Authorization": f"Bearer {token}"}, "algorithm 'HS256' is not accepted")


async def test_a_token_without_a_key_id_is_refused(client: httpx.AsyncClient, key: SigningKey) -> None:
    token = jwt.encode(regulator_claims(), key.private, algorithm="EdDSA")
    await refused(client, {"Authorization": f"Bearer {token}"}, "no key id")


async def test_an_unknown_key_id_is_refused_after_one_refresh(
    client: httpx.AsyncClient, key: SigningKey, published: PublishedKeys, clock: Clock
) -> None:
    assert (await client.get("/decisions", headers=signed(key))).status_code == 200
    assert published.fetched == 1
    clock.now += 31
    stranger = SigningKey.generate(prefix="k-")
    await refused(client, signed(stranger), f"unknown key id {stranger.kid!r}")
    assert published.fetched == 2


async def test_a_rotated_key_is_accepted_after_one_refresh_and_the_old_one_while_published(
    client: httpx.AsyncClient, key: SigningKey, published: PublishedKeys, clock: Clock
) -> None:
    assert (await client.get("/decisions", headers=signed(key))).status_code == 200
    new = SigningKey.generate(prefix="k-")
    published.keys.insert(0, new.public_jwk())  # the issuer rotates: a new key signs, the old one stays published
    clock.now += 31
    assert (await client.get("/decisions", headers=signed(new))).status_code == 200
    assert published.fetched == 2
    assert (await client.get("/decisions", headers=signed(key))).status_code == 200  # old tokens keep verifying
    assert published.fetched == 2
    published.keys = [new.public_jwk()]  # the old key is retired
    clock.now += 3601  # the cached set is re-read when it is older than the maximum age
    await refused(client, signed(key), "unknown key id")
    assert (await client.get("/decisions", headers=signed(new))).status_code == 200


async def test_a_flood_of_unknown_key_ids_fetches_the_keys_at_most_once_per_interval(
    client: httpx.AsyncClient, key: SigningKey, published: PublishedKeys, clock: Clock
) -> None:
    assert (await client.get("/decisions", headers=signed(key))).status_code == 200
    for _ in range(50):
        await refused(client, signed(SigningKey(f"k-{uuid.uuid4().hex}", key.private)), "unknown key id")
    assert published.fetched == 1  # all within the 30 s after the first fetch
    clock.now += 31
    for _ in range(50):
        await refused(client, signed(SigningKey(f"k-{uuid.uuid4().hex}", key.private)), "unknown key id")
    assert published.fetched == 2


async def test_an_issuer_whose_discovery_names_another_issuer_gives_no_keys(key: SigningKey) -> None:
    liar = PublishedKeys(key.public_jwk(), issuer="https://impostor.example")
    config = settings()
    app = guarded_app(TokenVerifier(config, IssuerKeys(config, transport=liar.transport)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/decisions", headers=signed(key))
    assert answer.status_code == 503 and liar.fetched == 0


# --- development identity refused outside development ------------------------------------------------


async def test_a_service_whose_issuer_publishes_a_development_key_refuses_to_start_outside_development() -> None:
    development_key = SigningKey.generate()  # kid "dev-..."
    published = PublishedKeys(development_key.public_jwk())
    verifier = TokenVerifier.from_settings(settings(), transport=published.transport)
    with pytest.raises(IdentityRefused, match="CONFORMITY_ENV"):
        await verifier.check_at_start()
    allowed = TokenVerifier.from_settings(settings(env="development"), transport=published.transport)
    await allowed.check_at_start()


def test_an_inline_key_set_is_refused_outside_development() -> None:
    inline = json.dumps({"keys": [SigningKey.generate(prefix="k-").public_jwk()]})
    with pytest.raises(IdentityRefused, match="CONFORMITY_OIDC_JWKS"):
        TokenVerifier.from_settings(settings(oidc_jwks=inline))
    TokenVerifier.from_settings(settings(oidc_jwks=inline, env="development"))


@pytest.mark.parametrize("issuer", ["http://issuer.internal", "http://10.0.0.7:8080/realms/conformity"])
def test_a_plain_http_issuer_elsewhere_is_refused_outside_development(issuer: str) -> None:
    with pytest.raises(IdentityRefused, match="CONFORMITY_OIDC_ISSUER"):
        TokenVerifier.from_settings(settings(oidc_issuer=issuer))
    TokenVerifier.from_settings(settings(oidc_issuer=issuer, env="development"))


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8009", "http://localhost:8080/realms/conformity", "https://id.example"])
def test_https_or_this_machine_is_accepted(issuer: str) -> None:
    TokenVerifier.from_settings(settings(oidc_issuer=issuer))


def test_no_issuer_is_refused_outside_development() -> None:
    with pytest.raises(IdentityRefused, match="CONFORMITY_OIDC_ISSUER is not set"):
        TokenVerifier.from_settings(settings(oidc_issuer=None))


async def test_development_keys_are_never_used_outside_development(key: SigningKey) -> None:
    development_key = SigningKey.generate()
    published = PublishedKeys(development_key.public_jwk(), key.public_jwk())
    verifier = TokenVerifier.from_settings(settings(), transport=published.transport)
    app = guarded_app(verifier)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/decisions", headers=signed(key))).status_code == 200
        await refused(client, signed(development_key), "unknown key id")
