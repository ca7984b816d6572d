"""Who may act on a certificate: object-level rules for the transitions people request
(``may_manage``); the transitions themselves are the certificate's."""

from __future__ import annotations

from conformity_shared.errors import Conflict, DomainError

from certificates.domain.certificate import TRANSITIONS, Action, Certificate, Status, SuspensionReason
from certificates.domain.issuance import BodyStanding, IssuanceRefused, may_issue

# Suspensions imposed from outside the issuing body: lifted by supervision's verified
# rectification or by the regulator, never by the body whose product or approval failed.
IMPOSED_SUSPENSIONS: frozenset[str] = frozenset(
    {SuspensionReason.SPOT_CHECK_FAILED.value, SuspensionReason.ISSUING_BODY_REVOKED.value}
)
# The reasons a person may give for a suspension; the imposed ones come only from their
# events, which also record what imposed them (the spot check, the revoked approval).
MANUAL_SUSPENSION_REASONS: frozenset[str] = frozenset(
    {SuspensionReason.SURVEILLANCE_OVERDUE.value, SuspensionReason.HOLDER_REQUEST.value, SuspensionReason.MISUSE.value}
)


class ActionForbidden(DomainError):
    """The caller may not take this action on this certificate; ``rule`` names why (HTTP 403)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, None, [{"rule": rule, "detail": message}], 403)
        self.rule = rule


class IssuingBodyRevoked(Conflict):
    """A certificate of a body whose approval is revoked cannot be made valid (HTTP 409)."""

    rule = "issuing_body_revoked"

    def __init__(self, number: str, body_uscc: str) -> None:
        message = (
            f"certificate {number} cannot be reinstated while its issuing body {body_uscc}'s approval is revoked: "
            "a revoked body has no valid certificates (a new approval of the body lifts this)"
        )
        super().__init__(message, "issuing_body", [{"rule": self.rule, "detail": message}])


def may_be_reinstated(cert: Certificate, body: BodyStanding | None) -> None:
    """No certificate of a revoked body is valid: while the issuing body's approval is revoked
    (``body``, the read model of its approval), nobody reinstates any of its certificates,
    whatever suspended them; a new grant of the body lifts this."""
    if body is not None and body.revoked:
        raise IssuingBodyRevoked(cert.number, cert.issuing_body_uscc)


def is_holder_request(action: Action, reason: str | None) -> bool:
    """Cancellation, and suspension for ``holder_request``, happen only at the holder's request."""
    return action is Action.CANCEL or (action is Action.SUSPEND and reason == SuspensionReason.HOLDER_REQUEST.value)


def may_manage(
    cert: Certificate,
    action: Action,
    *,
    reason: str | None,
    regulator: bool,
    org: str | None,
    holder_reference: str | None = None,
    body: BodyStanding | None = None,
) -> None:
    """Refuse a requested transition the caller may not make on this certificate.

    - A certification body manages only the certificates it issued; the regulator any.
    - A holder's request (cancellation, suspension at the holder's request) reaches the
      register through the body that issued the certificate, with a reference to the
      holder's written request.
    - Suspensions for a failed spot check or a revoked issuing body are imposed by their
      events; the body does not lift them (rectification, or the regulator, does).
    - A body reinstating a certificate vouches for it again, so, as for issuance, its
      approval must be active and cover the certificate's field (``body``, its standing).
    - The regulator reinstates no certificate while its issuing body's approval is revoked
      (``may_be_reinstated``).
    """
    may_be_requested(action, reason)
    holder_request = is_holder_request(action, reason)
    if regulator:
        regulator_may(holder_request)
        if action is Action.REINSTATE:
            may_be_reinstated(cert, body)
        return
    issuing_body_may(cert, action, org, holder_request, holder_reference, body)


def may_be_requested(action: Action, reason: str | None) -> None:
    """Expiry is time's alone, and imposed suspensions come only from their events."""
    if action not in TRANSITIONS:
        raise DomainError(f"unknown action {action!r}", "action")
    if action is Action.EXPIRE:
        raise ActionForbidden("automatic_only", "certificates expire automatically once their validity has ended")
    if action is Action.SUSPEND and reason not in MANUAL_SUSPENSION_REASONS:
        allowed = ", ".join(sorted(MANUAL_SUSPENSION_REASONS))
        raise DomainError(
            f"a suspension requested over the API gives one of {allowed}; {reason} suspensions come from their events",
            "reason",
        )


def regulator_may(holder_request: bool) -> None:
    """The regulator acts on any certificate, but a holder does not ask through it."""
    if holder_request:
        raise ActionForbidden(
            "holder_request_through_body",
            "a holder's request is made through the certification body that issued the certificate",
        )


def issuing_body_may(
    cert: Certificate,
    action: Action,
    org: str | None,
    holder_request: bool,
    holder_reference: str | None,
    body: BodyStanding | None,
) -> None:
    """A body acts on its own certificates only, with the holder's reference for a holder's request."""
    if not org or org != cert.issuing_body_uscc:
        raise ActionForbidden(
            "not_issuing_body",
            f"certificate {cert.number} was issued by another certification body: a body manages only "
            "the certificates it issued",
        )
    if holder_request and not (holder_reference and holder_reference.strip()):
        raise DomainError(
            "a holder's request needs holder_reference (the holder's written request)", "holder_reference"
        )
    if action is Action.REINSTATE:
        body_may_reinstate(cert, body)


def body_may_reinstate(cert: Certificate, body: BodyStanding | None) -> None:
    """The issuing body lifts only its own suspensions, and only while it may issue in the field
    under the certificate's scheme (the issuance check)."""
    if cert.status is Status.SUSPENDED and cert.suspension_reason in IMPOSED_SUSPENSIONS:
        raise ActionForbidden(
            "imposed_suspension",
            f"certificate {cert.number} was suspended for {cert.suspension_reason}: only a verified "
            "rectification or the regulator reinstates it",
        )
    try:
        may_issue(body, cert.field, cert.scheme)
    except IssuanceRefused as exc:
        raise ActionForbidden(exc.rule, f"certificate {cert.number} cannot be reinstated by its body: {exc}") from None


def may_see_history(number: str, issuing_body_uscc: str, *, regulator: bool, org: str | None) -> None:
    """A body sees the history of the certificates it issued, the regulator of any; everyone
    else has the public status."""
    if not regulator and issuing_body_uscc != org:
        raise ActionForbidden(
            "not_issuing_body",
            f"certificate {number} was issued by another certification body; its public status is at "
            f"/public/certificates/{number}",
        )
