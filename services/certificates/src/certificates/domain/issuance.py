"""May this body issue in this field? The service's own read model of approvals, fed only by
approval events, and the rule it serves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from conformity_shared.errors import DomainError

from certificates.domain.schemes import DEFAULT_FIELD_SCHEMES, Scheme


class BodyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class BodyStanding:
    """What the certificates service knows of a body's approval, from approval events.

    ``status`` is None when no approval of the body has been seen; ``approval_id`` is the
    latest granted approval, the one the read model follows. ``field_schemes`` are the schemes
    each approved field admits, as the grant named them; None when the grant named none (one
    recorded before grants did), read then with the default catalogue's (``admitted_schemes``).
    """

    uscc: str
    status: BodyStatus | str | None
    fields: frozenset[str] = frozenset()
    suspended_fields: frozenset[str] = frozenset()
    approval_id: str | None = None
    field_schemes: Mapping[str, frozenset[str]] | None = None

    @classmethod
    def granted(
        cls, uscc: str, approval_id: str, fields: Iterable[str], field_schemes: Mapping[str, Iterable[str]] | None = None
    ) -> BodyStanding:
        """A newly granted approval replaces whatever was known of the body; an empty
        ``field_schemes`` is a grant that named no schemes."""
        schemes = {field: frozenset(named) for field, named in field_schemes.items()} if field_schemes else None
        return cls(uscc, BodyStatus.ACTIVE, frozenset(fields), frozenset(), approval_id, schemes)

    def admitted_schemes(self, field: str) -> frozenset[str] | None:
        """The schemes the body may issue under in ``field``: those its grant named, or, when the
        grant named none, those the default catalogue admits; None when nobody said."""
        if self.field_schemes is not None:
            return self.field_schemes.get(field, frozenset())
        return DEFAULT_FIELD_SCHEMES.get(field)

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


# The request field each refusal is about; the others are about the issuing body.
_FIELD_OF_RULE = {"outside_scope": "field", "field_suspended": "field", "field_schemes_not_granted": "field",
                  "scheme_not_admitted_by_field": "scheme"}


class IssuanceRefused(DomainError):
    """The body may not issue this certificate; ``rule`` names why (HTTP 422)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, _FIELD_OF_RULE.get(rule, "issuing_body"), [{"rule": rule, "detail": message}])
        self.rule = rule


def may_issue(body: BodyStanding | None, field: str, scheme: Scheme | str) -> None:
    """Refuse issuance unless the body's approval is active and covers ``field`` unsuspended,
    and the field admits ``scheme``.

    The regulation allows a certification body to certify only within its approved scope,
    and not while its approval, or that field, is suspended or revoked. The scope is a field
    under the schemes it admits: a body approved for quality management systems issues
    management system certificates in it, not CCC ones.
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
    field_admits(body, field, Scheme.parse(scheme))


def field_admits(body: BodyStanding, field: str, scheme: Scheme) -> None:
    """Refuse a scheme the approved field does not admit, or a field whose schemes nobody named."""
    admitted = body.admitted_schemes(field)
    if admitted is None:
        raise IssuanceRefused(
            "field_schemes_not_granted",
            f"the grant of certification body {body.uscc}'s approval did not name the schemes field {field} "
            "admits, and the default catalogue does not know the field: a new grant is needed to issue in it",
        )
    if scheme.value not in admitted:
        allowed = ", ".join(sorted(admitted)) or "no scheme"
        raise IssuanceRefused("scheme_not_admitted_by_field",
                              f"field {field} admits {allowed} certificates, not {scheme.value}")
