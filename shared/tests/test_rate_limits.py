"""Per-client rate limits: the sliding window's arithmetic, and the 429 of public endpoints."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from conformity_shared import web
from conformity_shared.rate_limits import PublicRateLimit, SlidingWindowLimit, client_key, client_of
from conformity_shared.settings import HttpEdgeSettings


class FakeClock:
    def __init__(self, now: float = 600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_budget_and_is_refused_past_it_with_the_wait() -> None:
    clock = FakeClock(600.0)  # the start of a window
    limit = SlidingWindowLimit("public_requests", 3, 60, clock)
    assert [limit.spend("203.0.113.7").remaining for _ in range(3)] == [2, 1, 0]
    refused = limit.spend("203.0.113.7")
    assert not refused.allowed
    # All three were spent in this window: room again once the next window has faded a third of them.
    assert refused.retry_after == 60 + 20


def test_each_client_has_its_own_budget() -> None:
    limit = SlidingWindowLimit("public_requests", 1, 60, FakeClock())
    assert limit.spend("203.0.113.7").allowed
    assert limit.spend("198.51.100.1").allowed
    assert not limit.spend("203.0.113.7").allowed


def test_no_burst_of_twice_the_budget_fits_across_a_window_edge() -> None:
    clock = FakeClock(600.0 + 59)
    limit = SlidingWindowLimit("public_requests", 10, 60, clock)
    assert all(limit.spend("c").allowed for _ in range(10))
    clock.now = 600.0 + 61  # a new window: the previous one still weighs 59/60
    assert not limit.spend("c").allowed
    clock.now = 600.0 + 60 + 30  # half of it has faded
    assert sum(limit.spend("c").allowed for _ in range(10)) == 5


def test_a_budget_comes_back_whole_after_two_quiet_windows() -> None:
    clock = FakeClock(600.0)
    limit = SlidingWindowLimit("public_requests", 2, 60, clock)
    limit.spend("c", 2)
    clock.now += 120
    assert limit.spend("c", 2).allowed
    assert len(limit.previous) == 0  # old counts went with their window, nothing to sweep


def test_a_cost_spends_that_many_units_and_a_refused_one_spends_none() -> None:
    limit = SlidingWindowLimit("public_verify_numbers", 1000, 60, FakeClock())
    assert limit.spend("c", 800).remaining == 200
    refused = limit.spend("c", 300)
    assert not refused.allowed and refused.remaining == 200
    assert limit.spend("c", 200).allowed


def test_an_ipv6_client_counts_by_its_64_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_of({"client": None}) == "unknown"


def public_app(settings: HttpEdgeSettings) -> FastAPI:
    app = FastAPI()
    web.install_edge(app, settings)
    web.install_error_answers(app)

    @app.get("/public/things/{number}")
    async def thing(number: str) -> dict:
        return {"number": number}

    @app.get("/private")
    async def private() -> dict:
        return {}

    @app.post("/public/batch")
    async def batch(request: Request, numbers: list[str]) -> dict:
        request.app.state.numbers.charge(client_of(request.scope), len(numbers))
        return {"n": len(numbers)}

    app.state.numbers = SlidingWindowLimit("public_numbers", 5, 60)
    return app


def client_for(app: FastAPI, address: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://t")


async def test_past_its_budget_a_public_request_is_answered_429_naming_the_rule() -> None:
    app = public_app(HttpEdgeSettings(public_requests_per_window=2, public_rate_window_seconds=60))
    async with client_for(app) as client:
        first = await client.get("/public/things/1")
        assert first.status_code == 200
        assert first.headers["RateLimit-Policy"] == '"public_requests";q=2;w=60'
        assert first.headers["RateLimit"].startswith('"public_requests";r=1;t=')
        await client.get("/public/things/2")
        refused = await client.get("/public/things/3")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 120
        body = refused.json()
        assert body["rule"] == "public_requests" and body["limit"] == 2 and body["window_seconds"] == 60
        assert body["retry_after_seconds"] == int(refused.headers["Retry-After"])
        assert "at most 2 per 60 s" in body["detail"]
        assert refused.headers["X-Content-Type-Options"] == "nosniff"  # the 429 carries the security headers too
        assert (await client.get("/private")).status_code == 200  # only /public/ counts
    async with client_for(app, "198.51.100.1") as other:
        assert (await other.get("/public/things/1")).status_code == 200


async def test_a_route_s_own_budget_by_cost_answers_429_with_its_rule() -> None:
    app = public_app(HttpEdgeSettings(public_requests_per_window=100))
    async with client_for(app) as client:
        assert (await client.post("/public/batch", json=["a", "b", "c"])).status_code == 200
        refused = await client.post("/public/batch", json=["a", "b", "c"])
        assert refused.status_code == 429
        assert refused.json()["rule"] == "public_numbers"
        assert "Retry-After" in refused.headers


@pytest.mark.parametrize(("peer", "forwarded", "counted_as"), [
    ("10.0.0.5", "203.0.113.7", "203.0.113.7"),  # the trusted proxy's word is taken
    ("10.0.0.5", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the last hop before the proxy, not what the client wrote
    ("192.0.2.9", "203.0.113.7", "192.0.2.9"),  # anyone else's X-Forwarded-For is ignored
])
async def test_the_client_behind_a_trusted_proxy_is_the_address_it_forwards(peer: str, forwarded: str, counted_as: str) -> None:
    app = public_app(HttpEdgeSettings(public_requests_per_window=100, trusted_proxies="10.0.0.0/24"))
    async with client_for(app, peer) as client:
        assert (await client.get("/public/things/1", headers={"X-Forwarded-For": forwarded})).status_code == 200
    assert set(app.state.public_rate_limit.current) == {counted_as}


async def test_without_trusted_proxies_x_forwarded_for_changes_nothing() -> None:
    app = public_app(HttpEdgeSettings(public_requests_per_window=1))
    async with client_for(app, "10.0.0.5") as client:
        assert (await client.get("/public/things/1", headers={"X-Forwarded-For": "203.0.113.1"})).status_code == 200
        assert (await client.get("/public/things/1", headers={"X-Forwarded-For": "203.0.113.2"})).status_code == 429


async def test_the_middleware_passes_other_scopes_untouched() -> None:
    seen = []

    async def inner(scope, receive, send):  # noqa: ANN001, ANN202
        seen.append(scope["type"])

    await PublicRateLimit(inner, SlidingWindowLimit("r", 1, 60))({"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]
