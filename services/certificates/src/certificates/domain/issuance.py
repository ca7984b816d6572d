"""May this body issue in this field? The service's own read model of approvals, fed only by
approval events, and the rule it serves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from conformity_shared.errors import DomainError


class BodyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class BodyStanding:
    """What the certificates service knows of a body's approval, from approval events.

    ``status`` is None when no approval of the body has been seen; ``approval_id`` is the
    latest granted approval, the one the read model follows.
    """

    uscc: str
    status: BodyStatus | str | None
    fields: frozenset[str] = frozenset()
    suspended_fields: frozenset[str] = frozenset()
    approval_id: str | None = None

    @classmethod
    def granted(cls, uscc: str, approval_id: str, fields: Iterable[str]) -> BodyStanding:
        """A newly granted approval replaces whatever was known of the body."""
        return cls(uscc, BodyStatus.ACTIVE, frozenset(fields), frozenset(), approval_id)

    def follows(self, approval_id: str) -> bool:
        """The read model follows the body's latest granted approval; events of an older one, or
        of a body whose grant was never seen (a lab), change nothing."""
        return self.status is not None and self.approval_id == approval_id

    @property
    def revoked(self) -> bool:
        return self.status == BodyStatus.REVOKED

    def suspend(self, fields: Iterable[str] = ()) -> BodyStanding:
        """The approval suspended, in ``fields`` only when some are named; a revocation is final,
        so a later suspension must not turn it back into a suspension."""
        fields = frozenset(fields)
        if self.revoked:
            return self
        if fields:
            return dataclasses.replace(self, suspended_fields=self.suspended_fields | fields)
        return dataclasses.replace(self, status=BodyStatus.SUSPENDED)

    def reinstate(self, fields: Iterable[str] = ()) -> BodyStanding:
        """The approval reinstated, in ``fields`` only when some are named. Reinstating the whole
        approval leaves field suspensions in place: they have their own causes."""
        fields = frozenset(fields)
        if self.revoked:
            return self
        if fields:
            return dataclasses.replace(self, suspended_fields=self.suspended_fields - fields)
        return dataclasses.replace(self, status=BodyStatus.ACTIVE)

    def reduce_scope(self, remaining_fields: Iterable[str]) -> BodyStanding:
        return dataclasses.replace(self, fields=frozenset(remaining_fields))

    def revoke(self) -> BodyStanding:
        return dataclasses.replace(self, status=BodyStatus.REVOKED)


class IssuanceRefused(DomainError):
    """The body may not issue this certificate; ``rule`` names why (HTTP 422)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, "field" if rule in ("outside_scope", "field_suspended") else "issuing_body",
                         [{"rule": rule, "detail": message}])
        self.rule = rule


def may_issue(body: BodyStanding | None, field: str) -> None:
    """Refuse issuance unless the body's approval is active and covers ``field`` unsuspended.

    The regulation allows a certification body to certify only within its approved scope,
    and not while its approval, or that field, is suspended or revoked.
    """
    who = f"certification body {body.uscc}" if body and body.uscc else "the certification body"
    status = body.status if body else None
    if status is None:
        raise IssuanceRefused("not_approved", f"{who} is not an approved certification body")
    if status == BodyStatus.REVOKED:
        raise IssuanceRefused("body_revoked", f"{who}'s approval is revoked: it may not issue certificates")
    if status == BodyStatus.SUSPENDED:
        raise IssuanceRefused("body_suspended", f"{who}'s approval is suspended: it may not issue certificates")
    if status != BodyStatus.ACTIVE:
        raise IssuanceRefused("not_approved", f"{who} has no active approval (status {status})")
    assert body is not None
    if field not in body.fields:
        raise IssuanceRefused("outside_scope", f"{field} is outside {who}'s approved scope")
    if field in body.suspended_fields:
        raise IssuanceRefused("field_suspended", f"{who}'s approval is suspended in field {field}")
