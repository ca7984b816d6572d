"""What events do here: certificates' events keep the read model and, for a status change,
record the change, put it in the feed of every subscriber watching it and owe one delivery to
each of their endpoints (disabled ones too: their backlog is kept); approval's keep the bodies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from conformity_shared import events
from conformity_shared.db import insert_many, upsertable_insert
from conformity_shared.messaging import UnitOfWork

from notifications import db
from notifications.domain.changes import StatusChange, change_of
from notifications.domain.delivery import DeliveryStatus

BODY_STATUS = {
    events.ApprovalGrantedV1: "granted",
    events.ApprovalSuspendedV1: "suspended",
    events.ApprovalReinstatedV1: "granted",
    events.ApprovalRevokedV1: "revoked",
}


async def _save_certificate(uow: UnitOfWork, event: events.CertificateEvent, status: str, scheme: str | None) -> None:
    c = db.certificates.c
    values = {"number": event.certificate_number, "holder_uscc": event.holder_uscc,
              "issuing_body_uscc": event.issuing_body_uscc, "scheme": scheme, "status": status,
              "updated_at": uow.clock.now()}
    insert = upsertable_insert(uow.session, db.certificates).values(**values)
    update = {"status": status, "updated_at": values["updated_at"]}
    if scheme is not None:
        update["scheme"] = scheme
    await uow.session.execute(insert.on_conflict_do_update(index_elements=[c.number], set_=update))


async def record_issued(uow: UnitOfWork, event: events.CertificateIssuedV1) -> None:
    """A new certificate: known from now on (watchlists stop reporting its number unknown)."""
    await _save_certificate(uow, event, "valid", event.scheme)


async def record_status_change(uow: UnitOfWork, event: events.CertificateEvent) -> StatusChange:
    """A watched certificate's status changed: one feed entry per watching subscriber, one
    delivery per endpoint of theirs, in this event's transaction."""
    known = (await uow.session.execute(
        sa.select(db.certificates.c.status, db.certificates.c.scheme)
        .where(db.certificates.c.number == event.certificate_number)
    )).first()
    cause = uow.cause
    change = change_of(
        event, known.status if known else None, known.scheme if known else None,
        event_id=uow.cause_event_id or str(uuid.uuid4()), event_type=event.ce_type,
        at=cause.time if cause else uow.clock.now(), correlation_id=cause.correlation_id if cause else None,
    )
    await _save_certificate(uow, event, change.new_status, None)
    now = uow.clock.now()
    change_id = (await uow.session.execute(
        sa.insert(db.changes).values(event_id=change.event_id, certificate_number=change.certificate_number,
                                     body=json.dumps(change.payload(), separators=(",", ":")), at=now)
        .returning(db.changes.c.id)
    )).scalar_one()
    subscribers = list((await uow.session.execute(
        db.matching_subscribers(change.certificate_number, change.holder_uscc, change.issuing_body_uscc, change.scheme)
    )).scalars())
    if not subscribers:
        return change
    await insert_many(uow.session, db.feed, [{"subscriber_uscc": s, "change_id": change_id} for s in sorted(subscribers)])
    targets = (await uow.session.execute(
        sa.select(db.endpoints.c.id, db.endpoints.c.subscriber_uscc)
        .where(db.endpoints.c.subscriber_uscc.in_(subscribers)).order_by(db.endpoints.c.created_at)
    )).all()
    await insert_many(uow.session, db.deliveries, [
        {"id": str(uuid.uuid4()), "endpoint_id": t.id, "subscriber_uscc": t.subscriber_uscc,
         "certificate_number": change.certificate_number, "change_id": change_id,
         "status": DeliveryStatus.PENDING.value, "attempts": 0, "next_attempt_at": now, "created_at": now,
         "retry_from": now}
        for t in targets
    ])
    return change


async def record_body(uow: UnitOfWork, event: events.ApprovalEvent) -> None:
    """The standing of an issuing body (watchlists by body report bodies never seen as unknown)."""
    if event.kind != events.OrganisationKind.CERTIFICATION_BODY:
        return
    values: dict[str, Any] = {"uscc": event.organisation_uscc, "status": BODY_STATUS[type(event)],
                              "updated_at": uow.clock.now(), "name": getattr(event, "organisation_name", None)}
    update = {"status": values["status"], "updated_at": values["updated_at"]}
    if values["name"]:
        update["name"] = values["name"]
    insert = upsertable_insert(uow.session, db.bodies).values(**values)
    await uow.session.execute(insert.on_conflict_do_update(index_elements=[db.bodies.c.uscc], set_=update))
