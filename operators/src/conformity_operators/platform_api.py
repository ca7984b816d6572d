"""The four services' public HTTP APIs as an operator tool calls them, with errors that say what to do."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from conformity_shared.auth import Role
from conformity_operators.errors import OperatorError, ServiceUnreachable


class EndpointMissing(OperatorError):
    """The service answers, but not this route: it is not built (yet) in the running version."""

    def __init__(self, service: str, method: str, path: str, status: int) -> None:
        super().__init__(f"{service} has no {method} {path} (it answered {status}): not built yet in the running version")
        self.service = service


class Refused(OperatorError):
    """The service answered with an error: the request or the state did not allow it."""

    def __init__(self, service: str, method: str, path: str, status: int, detail: Any) -> None:
        super().__init__(f"{service} refused {method} {path} ({status}): {detail}")
        self.status = status
        self.detail = detail


# Signs a token for a role and its claims (role, org=, inspector_id=, subject=): the development
# issuer's key for the demo, the tests' key in the tests. No service holds such a key.
TokenSigner = Callable[..., str]


class PlatformApi:
    """Calls to the services, one httpx client each (real URLs, or in-process apps in tests), with
    tokens for the parties the caller plays."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient], sign: TokenSigner) -> None:
        self.clients = dict(clients)
        self.sign = sign

    def url(self, service: str) -> str:
        return str(self.clients[service].base_url).rstrip("/")

    def auth(
        self, role: Role | str, *, org: str | None = None, inspector_id: str | None = None, subject: str | None = None
    ) -> dict[str, str]:
        signed = self.sign(role, org=org, inspector_id=inspector_id, subject=subject)
        return {"Authorization": f"Bearer {signed}"}

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        auth: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> Any:
        """The JSON answer of a 2xx; EndpointMissing, Refused or ServiceUnreachable otherwise."""
        headers = dict(auth or {})
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        try:
            answer = await self.clients[service].request(method, path, headers=headers, json=json, params=params)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(service, self.url(service), exc.__class__.__name__) from None
        if answer.is_success:
            return answer.json() if answer.content else None
        detail = _detail(answer)
        # A route that does not exist answers FastAPI's bare "Not Found"; a missing resource names itself.
        if answer.status_code == 405 or (answer.status_code == 404 and detail == "Not Found"):
            raise EndpointMissing(service, method, path, answer.status_code)
        raise Refused(service, method, path, answer.status_code, detail)

    async def health(self, service: str) -> dict[str, Any]:
        try:
            answer = await self.clients[service].get("/health")
        except httpx.TransportError as exc:
            raise ServiceUnreachable(service, self.url(service), exc.__class__.__name__) from None
        return answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}

    async def paths(self, service: str) -> dict[str, Any]:
        """The service's OpenAPI paths: what the running version offers."""
        return (await self.call(service, "GET", "/openapi.json")).get("paths", {})

    @staticmethod
    def new_correlation_id() -> str:
        return str(uuid.uuid4())


def _detail(answer: httpx.Response) -> Any:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:300]
    return body.get("detail", body) if isinstance(body, dict) else body


def http_clients(urls: Mapping[str, str], timeout: float = 30.0) -> dict[str, httpx.AsyncClient]:
    return {service: httpx.AsyncClient(base_url=url, timeout=timeout) for service, url in urls.items()}
