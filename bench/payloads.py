"""Events as the platform puts them on the wire (the shared models and envelope), so that the
baselines carry exactly the bytes the services carry."""

from __future__ import annotations

import datetime as dt
import uuid

from conformity_shared import events
from conformity_shared.envelope import Envelope, causal_context

FINDINGS = "sample overheats (GB 4706.19 clause 11)"
SUPERVISION_SOURCE = "/conformity/supervision"
CERTIFICATES_SOURCE = "/conformity/certificates"
APPROVAL_SOURCE = "/conformity/approval"

Message = tuple[str, bytes, list[tuple[str, bytes]]]  # key, value, headers


def _wire(event: events.Event, source: str, correlation: str | None = None, cause: str | None = None) -> Message:
    correlation = correlation or str(uuid.uuid4())
    with causal_context(correlation, cause or correlation):
        envelope = Envelope.for_event(event, source)
    # model_dump_json, as UnitOfWork.emit stores the payload the relay publishes
    return envelope.subject, event.model_dump_json().encode(), envelope.headers()


def spot_check_failed(holder: str, number: str, inspection_id: str | None = None) -> Message:
    event = events.SpotCheckFailedV1(
        inspection_id=inspection_id or str(uuid.uuid4()), holder_uscc=holder, certificate_numbers=[number],
        findings=FINDINGS,
    )
    return _wire(event, SUPERVISION_SOURCE)


def certificate_suspended(number: str, body: str, holder: str, reason: str, cause: str | None = None) -> Message:
    until = dt.date.today() + dt.timedelta(days=183)
    event = events.CertificateSuspendedV1(
        certificate_number=number, issuing_body_uscc=body, holder_uscc=holder, reason=reason, suspended_until=until
    )
    return _wire(event, CERTIFICATES_SOURCE, cause=cause or str(uuid.uuid4()))


def approval_revoked(approval_id: str, body: str) -> Message:
    event = events.ApprovalRevokedV1(
        approval_id=approval_id, organisation_uscc=body, kind=events.OrganisationKind.CERTIFICATION_BODY,
        reason="commitment breached: benchmark revocation",
    )
    return _wire(event, APPROVAL_SOURCE)


def size(message: Message) -> int:
    _key, value, headers = message
    return len(value) + sum(len(k) + len(v) for k, v in headers)
