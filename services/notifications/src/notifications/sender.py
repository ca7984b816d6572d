"""The HTTP side of a delivery: a client that can only reach addresses the rules admit.

The check is made where the connection is opened (an httpcore network backend): the name is
resolved once, every address it resolves to is checked, and the connection goes to a checked
address, so a name that resolves to a public address at check time and a private one at connect
time (DNS rebinding) cannot slip through. TLS still verifies the certificate of the name.
Redirects are not followed and proxies from the environment are not used.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from notifications.domain.delivery import Outcome
from notifications.domain.targets import TargetRefused, check_address

USER_AGENT = "conformity-notifications/1 (Standard Webhooks)"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses `check_address` admits."""

    def __init__(self, *, development: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._development = development

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:  # every address: one refused address refuses the name
            check_address(ipaddress.ip_address(address.split("%", 1)[0]), host, development=self._development)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} resolves to no address")

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not sent to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(*, development: bool, timeout: float, connections: int) -> httpx.AsyncClient:
    """The client deliveries are sent with."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx builds its pool without a way to pass a network backend: the same pool, with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=connections, max_keepalive_connections=connections,
        keepalive_expiry=30.0, network_backend=GuardedBackend(development=development),
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False,
                             headers={"user-agent": USER_AGENT})


class Clients:
    """One client, and so one connection pool, per endpoint origin (scheme, host, port), made when
    first needed; each keeps its connections to that endpoint alive between rounds.

    Per origin because httpcore's pool looks at every connection it holds at every request (is it
    idle, has it expired, is its socket readable): one pool of 64 connections shared by every
    endpoint spent half of a sending loop's CPU there (py-spy, 30,000 webhooks). It also bounds
    the connections one subscriber's endpoint gets from one loop."""

    def __init__(self, *, development: bool, timeout: float, connections_per_endpoint: int) -> None:
        self._made: dict[str, httpx.AsyncClient] = {}
        self._options = {"development": development, "timeout": timeout, "connections": connections_per_endpoint}

    def for_url(self, url: str) -> httpx.AsyncClient:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"
        made = self._made.get(origin)
        if made is None:
            made = self._made[origin] = client(**self._options)
        return made

    async def aclose(self) -> None:
        made, self._made = list(self._made.values()), {}
        for http in made:
            await http.aclose()


async def post(http: httpx.AsyncClient | Clients, url: str, headers: dict[str, str], body: str) -> Outcome:
    """One attempt: POST the signed body; what happened, never an exception."""
    started = time.monotonic()
    if isinstance(http, Clients):
        http = http.for_url(url)

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        answer = await http.post(url, content=body.encode(), headers={**headers, "content-type": "application/json"})
    except TargetRefused as exc:
        return Outcome(False, None, f"refused target: {exc.message}", took(), f"refused_target:{exc.rule}")
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:1000] or type(exc).__name__, took(),
                       type(exc).__name__)
    return Outcome.of_status(answer.status_code, took())
