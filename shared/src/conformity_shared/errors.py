"""Domain errors and how they reach an HTTP client: status, a message and the field or rule."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class DomainError(Exception):
    """A request the rules refuse (422 unless a subclass says otherwise)."""

    message: str
    field: str | None = None
    rules: list[dict[str, str]] = dataclasses.field(default_factory=list)
    status_code: int = 422

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"detail": self.message}
        if self.field:
            body["field"] = self.field
        if self.rules:
            body["failed_rules"] = self.rules
        return body


class NotFound(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field, [], 404)


class Conflict(DomainError):
    """An illegal state transition, or a duplicate."""

    def __init__(self, message: str, field: str | None = None, rules: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, field, rules or [], 409)


class Forbidden(DomainError):
    """Authenticated, but this caller may not act on this object."""

    def __init__(self, message: str, field: str | None = None, rules: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, field, rules or [], 403)
