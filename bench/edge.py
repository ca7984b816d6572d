"""`python -m bench.edge`: what the HTTP edge (security headers, public rate limit, body size
limit; SECURITY.md) costs per request, in process: ASGI calls with no server and no network,
so that the middleware's own time is not lost in the noise of a socket.

Two measures: each middleware around an ASGI app that answers at once (its own cost), and a
FastAPI app answering a one-number verification from memory, with and without the edge (the
share of a real route's time). Clients are drawn from a pool (1, or 10,000 addresses) so that
the rate limiter's table is as large as a busy replica's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformity_shared import web
from conformity_shared.body_size import BodySizeLimit
from conformity_shared.rate_limits import PublicRateLimit, SlidingWindowLimit
from conformity_shared.security_headers import SecurityHeaders
from conformity_shared.settings import HttpEdgeSettings

HEADERS = [(b"host", b"certificates"), (b"user-agent", b"bench"), (b"accept", b"*/*"), (b"accept-encoding", b"gzip")]
BODY = b'{"numbers": [' + b", ".join(b'"CNCA-%06d"' % i for i in range(1000)) + b"]}"
BIG = 10**9  # a budget no run exhausts: the cost measured is the counting, not the refusal


async def answer_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] == "POST":
        while (await receive()).get("more_body"):
            pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def scope_for(method: str, path: str, client: str, body: bytes = b"") -> Scope:
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())] if body else HEADERS
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": list(headers),
            "client": (client, 40000), "server": ("127.0.0.1", 8000), "state": {}}


async def per_request(app: ASGIApp, requests: int, clients: int, method: str = "GET", body: bytes = b"") -> float:
    """Mean CPU microseconds per request over `requests` calls (best of 5 rounds)."""
    addresses = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(clients)]
    scopes = [scope_for(method, "/public/certificates/CNCA-000042", a, body) for a in addresses]
    message: Message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> Message:
        return message

    async def send(_message: Message) -> None:
        return None

    rounds = []
    for _ in range(5):
        started = time.process_time()  # CPU time: another process taking the core does not count
        for i in range(requests):
            await app(dict(scopes[i % clients]), receive, send)
        rounds.append((time.process_time() - started) / requests * 1e6)
    return min(rounds)


def verification_app(edge: bool) -> FastAPI:
    app = FastAPI()
    if edge:
        web.install_edge(app, HttpEdgeSettings(public_requests_per_window=BIG))

    @app.get("/public/certificates/{number}")
    async def verify(number: str) -> dict[str, Any]:
        return {"number": number, "status": "valid", "holder_name": "Hangzhou Kettle Works"}

    return app


def layers() -> dict[str, Callable[[ASGIApp], ASGIApp]]:
    return {
        "security headers": lambda app: SecurityHeaders(app),
        "public rate limit": lambda app: PublicRateLimit(app, SlidingWindowLimit("public_requests", BIG, 60)),
        "body size limit": lambda app: BodySizeLimit(app, 1_048_576),
        "whole edge": lambda app: SecurityHeaders(
            PublicRateLimit(BodySizeLimit(app, 1_048_576), SlidingWindowLimit("public_requests", BIG, 60))),
    }


async def run(requests: int) -> list[tuple[str, float]]:
    figures = [("bare ASGI app, GET", await per_request(answer_at_once, requests, 1))]
    for name, wrap in layers().items():
        for clients in (1, 10_000):
            extra = await per_request(wrap(answer_at_once), requests, clients) - figures[0][1]
            figures.append((f"+ {name}, GET, {clients} client(s)", extra))
    bare_post = await per_request(answer_at_once, requests // 10, 1, "POST", BODY)
    edge_post = await per_request(layers()["whole edge"](answer_at_once), requests // 10, 1, "POST", BODY)
    figures.append(("+ whole edge, POST of 1,000 numbers (22 KB)", edge_post - bare_post))
    without = await per_request(verification_app(False), requests, 1)
    with_edge = await per_request(verification_app(True), requests, 10_000)
    figures += [("FastAPI route, no edge", without), ("FastAPI route, with the edge (10,000 clients)", with_edge),
                ("  the edge's share", with_edge - without)]
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests per measure (best of 5 rounds)")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.requests))
    width = max(len(name) for name, _ in figures)
    for name, micros in figures:
        print(f"{name:<{width}}  {micros:7.2f} µs/request")
    print(f"(median of the added costs: {statistics.median(m for n, m in figures if n.startswith('+')):.2f} µs)")


if __name__ == "__main__":
    main()
