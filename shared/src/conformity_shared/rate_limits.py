"""Per-client rate limits: a budget of units (requests, numbers verified) per window, per client.

The counts live in this process's memory, so a limit holds per replica (per uvicorn worker):
with N replicas behind the proxy a client may get up to N times the budget. The global limit
is the reverse proxy's (deploy/haproxy/haproxy.cfg, SECURITY.md "Rate limits on public endpoints").

Our own limiter rather than `limits`: its in-memory storages sweep every client's key on a
timer (the asyncio one on nearly every hit: milliseconds per request at 20,000 clients), so a
flood of addresses would make the limiter the bottleneck; two rotating windows expire in O(1).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIX = "/public/"


@dataclass(slots=True)
class Decision:
    """What one client's spending met: allowed (retry_after 0), or refused and for how long."""

    rule: str
    limit: int
    window_seconds: int
    remaining: int
    reset_seconds: int
    retry_after: int = 0

    @property
    def allowed(self) -> bool:
        return self.retry_after == 0

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit (IETF httpapi draft), and Retry-After when refused."""
        headers = {"RateLimit-Policy": self.policy(), "RateLimit": self.state()}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def policy(self) -> str:
        return f'"{self.rule}";q={self.limit};w={self.window_seconds}'

    def state(self) -> str:
        return f'"{self.rule}";r={self.remaining};t={self.retry_after or self.reset_seconds}'

    def body(self) -> dict[str, Any]:
        message = (f"rate limit {self.rule}: at most {self.limit} per {self.window_seconds} s per client; "
                   f"retry in {self.retry_after} s")
        return {"detail": message, "rule": self.rule, "limit": self.limit, "window_seconds": self.window_seconds,
                "retry_after_seconds": self.retry_after, "failed_rules": [{"rule": self.rule, "detail": message}]}


class RateLimited(Exception):
    """Raised by a route whose own budget (by cost) is spent; web.py answers it with 429."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.body()["detail"])
        self.decision = decision

    def response(self) -> JSONResponse:
        return JSONResponse(self.decision.body(), status_code=429, headers=self.decision.headers())


class SlidingWindowLimit:
    """At most `limit` units per `window_seconds` per client, as a sliding window counter: the
    previous window's count weighs by how much of it still overlaps the sliding window, so no
    burst of twice the budget fits across a window's edge. Refused units are not counted."""

    def __init__(self, rule: str, limit: int, window_seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rule, self.limit, self.window = rule, limit, window_seconds
        self.clock = clock
        self.index = -1  # the current window's number since the clock's origin
        self.current: dict[str, int] = {}
        self.previous: dict[str, int] = {}

    def spend(self, client: str, cost: int = 1) -> Decision:
        now = self.clock()
        index, elapsed = divmod(now, self.window)
        self.rotate(int(index))
        current = self.current.get(client, 0)
        used = self.previous.get(client, 0) * (1 - elapsed / self.window) + current
        reset = max(1, math.ceil(self.window - elapsed))
        if used + cost <= self.limit:
            self.current[client] = current + cost
            return Decision(self.rule, self.limit, self.window, int(self.limit - used - cost), reset)
        wait = self.wait_seconds(client, cost, elapsed)
        return Decision(self.rule, self.limit, self.window, max(0, int(self.limit - used)), reset,
                        retry_after=max(1, math.ceil(wait)))

    def charge(self, client: str, cost: int = 1) -> Decision:
        """`spend`, raising RateLimited (answered 429) when refused: for a route whose cost is
        known only once its body is read (numbers verified in bulk)."""
        decision = self.spend(client, cost)
        if not decision.allowed:
            raise RateLimited(decision)
        return decision

    def wait_seconds(self, client: str, cost: int, elapsed: float) -> float:
        """How long until `cost` more units fit, if nothing else is spent meanwhile."""
        current, previous = self.current.get(client, 0), self.previous.get(client, 0)
        if cost > self.limit:
            return self.window  # never fits: the body says so through its limit
        if current + cost <= self.limit:  # the previous window's share must fade enough
            return self.window * (1 - (self.limit - current - cost) / previous) - elapsed
        # the next window: this one's count then fades in turn
        return (self.window - elapsed) + self.window * (1 - (self.limit - cost) / current)

    def rotate(self, index: int) -> None:
        # Old counts go in one step: no per-client expiry to sweep, whatever the number of clients.
        if index == self.index:
            return
        self.previous = self.current if index == self.index + 1 else {}
        self.current = {}
        self.index = index


@functools.lru_cache(maxsize=65_536)
def client_key(host: str) -> str:
    """The client a budget belongs to: its IPv4 address, or its IPv6 /64 (one subscriber's
    network, which can hold any number of addresses)."""
    if ":" not in host:
        return host
    try:
        return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
    except ValueError:
        return host


def client_of(scope: Scope) -> str:
    """The requesting client's key: the connection's peer, or the address a trusted proxy
    forwarded (the proxy-headers middleware put it in the scope)."""
    client = scope.get("client")
    return client_key(client[0]) if client else "unknown"


class PublicRateLimit:
    """Pure ASGI: every request under /public/ spends one unit of its client's budget; over it,
    429 with Retry-After and the rule in a JSON body. Other paths pass untouched."""

    def __init__(self, app: ASGIApp, limit: SlidingWindowLimit, prefix: str = PUBLIC_PREFIX) -> None:
        self.app, self.limit, self.prefix = app, limit, prefix
        self.policy = (b"ratelimit-policy", f'"{limit.rule}";q={limit.limit};w={limit.window}'.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        decision = self.limit.spend(client_of(scope))
        if not decision.allowed:
            await RateLimited(decision).response()(scope, receive, send)
            return
        state = (b"ratelimit", decision.state().encode())

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.policy, state]
            await send(message)

        await self.app(scope, receive, send_with_budget)
