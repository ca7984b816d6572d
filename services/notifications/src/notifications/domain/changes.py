"""A status change of a certificate, as subscribers receive it (webhook body, change feed,
live stream): the same payload everywhere."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from conformity_shared import events

# The status each certificate event leads to, and the one it must have come from when the
# lifecycle allows only one (certificates' transition table); None: it depends, ask the read model.
TRANSITIONS: dict[type[events.CertificateEvent], tuple[str | None, str]] = {
    events.CertificateSuspendedV1: ("valid", "suspended"),
    events.CertificateReinstatedV1: ("suspended", "valid"),
    events.CertificateWithdrawnV1: (None, "withdrawn"),
    events.CertificateCancelledV1: (None, "cancelled"),
    events.CertificateExpiredV1: (None, "expired"),
}
PAYLOAD_TYPE = "certificate.status_changed"


@dataclass(frozen=True)
class StatusChange:
    certificate_number: str
    holder_uscc: str
    issuing_body_uscc: str
    scheme: str | None
    old_status: str | None
    new_status: str
    reason: str | None
    effective_at: dt.datetime
    event_id: str  # the certificates service's event that made the change
    event_type: str
    correlation_id: str | None

    def payload(self) -> dict[str, Any]:
        """The Standard Webhooks style body: type, timestamp, data; `event_id` identifies the change."""
        return {
            "type": PAYLOAD_TYPE,
            "timestamp": self.effective_at.isoformat(),
            "data": {
                "certificate_number": self.certificate_number,
                "holder_uscc": self.holder_uscc,
                "issuing_body_uscc": self.issuing_body_uscc,
                "scheme": self.scheme,
                "old_status": self.old_status,
                "new_status": self.new_status,
                "reason": self.reason,
                "effective_at": self.effective_at.isoformat(),
                "event_id": self.event_id,
                "event_type": self.event_type,
                "correlation_id": self.correlation_id,
            },
        }


def change_of(event: events.CertificateEvent, known_status: str | None, scheme: str | None, *, event_id: str,
              event_type: str, at: dt.datetime, correlation_id: str | None) -> StatusChange:
    """The change `event` makes; the old status from the lifecycle, else what the service last knew."""
    implied_old, new = TRANSITIONS[type(event)]
    return StatusChange(
        certificate_number=event.certificate_number,
        holder_uscc=event.holder_uscc,
        issuing_body_uscc=event.issuing_body_uscc,
        scheme=scheme,
        old_status=implied_old or known_status,
        new_status=new,
        reason=getattr(event, "reason", None) or ("validity ended" if new == "expired" else None),
        effective_at=at,
        event_id=event_id,
        event_type=event_type,
        correlation_id=correlation_id,
    )
