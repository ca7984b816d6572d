"""Use cases of the certificates service: each opens one unit of work, asks the domain, and
saves the change, its history and its events together.

    digital.py      digital certificates: signed credentials, status lists that follow the statuses
    bodies.py       the read model of approved bodies, from approval events
    issuance.py     issue a certificate within the body's approved scope
    lifecycle.py    the transitions a body or the regulator requests: suspend, reinstate, withdraw, cancel
    reactions.py    automatic transitions caused by events: spot checks, rectifications, revocations
    transitions.py  saving a transitioned certificate with the event of its transition
    views.py        reading certificates, and public verification
"""

from certificates.service.bodies import (
    record_body_granted,
    record_body_reinstated,
    record_body_revoked,
    record_body_scope_reduced,
    record_body_suspended,
)
from certificates.service.issuance import issue
from certificates.service.lifecycle import cancel, reinstate, suspend, withdraw
from certificates.service.reactions import (
    reinstate_after_rectification,
    suspend_for_failed_spot_check,
    suspend_for_revoked_body,
)
from certificates.service.transitions import record_transition, transition_event
from certificates.service.views import MAX_VERIFY_BATCH, get_certificate, list_certificates, verify, verify_many

__all__ = [
    "MAX_VERIFY_BATCH",
    "cancel",
    "get_certificate",
    "issue",
    "list_certificates",
    "record_body_granted",
    "record_body_reinstated",
    "record_body_revoked",
    "record_body_scope_reduced",
    "record_body_suspended",
    "record_transition",
    "reinstate",
    "reinstate_after_rectification",
    "suspend",
    "suspend_for_failed_spot_check",
    "suspend_for_revoked_body",
    "transition_event",
    "verify",
    "verify_many",
    "withdraw",
]
