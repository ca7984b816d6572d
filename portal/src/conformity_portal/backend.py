"""The services, as the portal reaches them: their public HTTP APIs, with the signed-in user's
bearer token forwarded (the services decide what the user may see and do, never the portal),
and their refusals turned into errors that name the form's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from conformity_portal.settings import PortalSettings

log = structlog.get_logger("conformity.portal")


@dataclass(frozen=True)
class FieldError:
    """One thing the service refused: the input it names (the API's path, `declared.premises`),
    the rule's code when it gives one, and its words."""

    field: str | None
    rule: str | None
    detail: str


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def errors(self) -> list[FieldError]:
        return errors_of(self.body)


class ServiceUnavailable(Exception):
    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service


def errors_of(body: Any) -> list[FieldError]:
    """Every refusal in a service's error answer: the rules it lists (`failed_rules`, each with
    its field when it names one), or FastAPI's validation list (`detail` with `loc`), or its
    one `detail` with the `field` it names."""
    if not isinstance(body, dict):
        return [FieldError(None, None, str(body)[:500])]
    rules = body.get("failed_rules")
    if isinstance(rules, list) and rules:
        single = body.get("field")
        return [FieldError(r.get("field") or (single if len(rules) == 1 else None), r.get("rule"),
                           str(r.get("detail", ""))) for r in rules if isinstance(r, dict)]
    detail = body.get("detail")
    if isinstance(detail, list):
        errors = []
        for item in detail:
            if not isinstance(item, dict):
                continue
            loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
            errors.append(FieldError(".".join(loc) or None, item.get("type"), str(item.get("msg", ""))))
        return errors
    return [FieldError(body.get("field"), None, str(detail or body))]


class Services:
    """One connection pool for every service; each call carries the user's token."""

    def __init__(self, settings: PortalSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=settings.portal_backend_timeout_seconds, transport=transport)

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, service: str, method: str, path: str, token: str, *, json: Any = None,
                   params: dict[str, Any] | None = None, correlation_id: str | None = None) -> Answer:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        url = self.settings.service_url(service) + path
        try:
            answer = await self.client.request(method, url, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("service unreachable", service=service, path=path, error=repr(exc))
            raise ServiceUnavailable(service, exc.__class__.__name__) from exc
        if answer.status_code >= 500:
            log.warning("service failed", service=service, path=path, status=answer.status_code)
            raise ServiceUnavailable(service, f"HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            body = {"detail": answer.text[:500]}
        return Answer(answer.status_code, body)

    async def get(self, service: str, path: str, token: str, **params: Any) -> Answer:
        return await self.call(service, "GET", path, token, params={k: v for k, v in params.items() if v is not None})

    async def post(self, service: str, path: str, token: str, body: Any = None) -> Answer:
        return await self.call(service, "POST", path, token, json=body if body is not None else {})
