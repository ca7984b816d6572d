"""The directory of inspection targets, as supervision learns it from other services' events.

Bodies and labs are listed when approved, enterprises when certified (with the status of each
of their certificates, which a spot check samples). A failure may arrive before the
organisation's own event: the organisation is then listed with an unknown kind, so that the
failure counts, and is not drawn until its kind is known.
"""

from __future__ import annotations

from enum import StrEnum

from conformity_shared.events import OrganisationKind


class TargetKind(StrEnum):
    """What a directory entry is: an organisation kind, or not known yet."""

    CERTIFICATION_BODY = OrganisationKind.CERTIFICATION_BODY.value
    TESTING_LAB = OrganisationKind.TESTING_LAB.value
    ENTERPRISE = OrganisationKind.ENTERPRISE.value
    UNKNOWN = "unknown"  # listed only because a failure arrived before its own event


# Only targets of a known kind can be drawn.
DRAWABLE_KINDS: frozenset[TargetKind] = frozenset(TargetKind(kind.value) for kind in OrganisationKind)


class CertificateStatus(StrEnum):
    """A certificate's status as the certificates service last announced it."""

    VALID = "valid"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
