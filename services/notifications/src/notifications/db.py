"""The notifications service's tables: endpoints and watchlists of subscribers, its read model of
certificates and bodies (from events only), the change feed, and the delivery outbox with each
attempt. Queries the use cases and the delivery worker share live here too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from conformity_shared.db import UTCDateTime, messaging_tables

from notifications.domain.delivery import DeliveryStatus, EndpointStatus

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()
SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# --- read model, fed by events only -------------------------------------------------------------

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("number", sa.String(40), primary_key=True),
    sa.Column("holder_uscc", sa.String(18), nullable=False),
    sa.Column("issuing_body_uscc", sa.String(18), nullable=False),
    sa.Column("scheme", sa.String(40), nullable=True),  # known from certificate.issued.v1 only
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
)

bodies = sa.Table(
    "bodies",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(300), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # granted, suspended, revoked
    sa.Column("updated_at", TZ, nullable=False),
)

# --- subscriptions --------------------------------------------------------------------------------

endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("subscriber_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(300), nullable=True),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("previous_secret", sa.String(100), nullable=True),
    sa.Column("previous_secret_until", TZ, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # domain.delivery.EndpointStatus
    sa.Column("disabled_reason", sa.String(1000), nullable=True),
    sa.Column("disabled_at", TZ, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("failing_since", TZ, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
)

watches = sa.Table(
    "watches",
    metadata,
    sa.Column("subscriber_uscc", sa.String(18), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),  # domain.watchlists.WatchKind
    sa.Column("value", sa.String(40), primary_key=True),
    sa.Column("added_at", TZ, nullable=False),
)
sa.Index("ix_watches_kind_value", watches.c.kind, watches.c.value)

# --- what happened, and what is owed to whom --------------------------------------------------------

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", SEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(100), nullable=False, unique=True),
    sa.Column("certificate_number", sa.String(40), nullable=False, index=True),
    # The exact JSON every delivery of this change sends (and signs), serialised once.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("at", TZ, nullable=False),
)

# Each subscriber's change feed (`GET /changes`): the cursor is `seq`.
feed = sa.Table(
    "feed",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("subscriber_uscc", sa.String(18), nullable=False),
    sa.Column("change_id", SEQ, sa.ForeignKey("changes.id"), nullable=False),
)
sa.Index("ix_feed_subscriber_seq", feed.c.subscriber_uscc, feed.c.seq)

# The delivery outbox: one row per change and endpoint; `id` is the webhook-id of every attempt.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("endpoint_id", sa.String(36), sa.ForeignKey("endpoints.id"), nullable=False),
    sa.Column("subscriber_uscc", sa.String(18), nullable=False),
    sa.Column("certificate_number", sa.String(40), nullable=False),
    sa.Column("change_id", SEQ, sa.ForeignKey("changes.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # domain.delivery.DeliveryStatus
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TZ, nullable=False),
    # A sender's claim: until when, and whose (another replica takes it over after that).
    sa.Column("claimed_until", TZ, nullable=True),
    sa.Column("claim", sa.String(36), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("retry_from", TZ, nullable=False),  # the retry period counts from here (creation, or a replay)
    sa.Column("finished_at", TZ, nullable=True),  # delivered or given up
)
sa.Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
sa.Index("ix_deliveries_order", deliveries.c.endpoint_id, deliveries.c.certificate_number, deliveries.c.status,
         deliveries.c.seq)
sa.Index("ix_deliveries_subscriber", deliveries.c.subscriber_uscc, deliveries.c.seq)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", SEQ, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(36), nullable=False, index=True),
    sa.Column("at", TZ, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.String(1000), nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)


# --- queries ------------------------------------------------------------------------------------------


def matching_subscribers(number: str, holder: str, body: str, scheme: str | None) -> sa.Select[Any]:
    """The subscribers watching this certificate by number, holder, issuing body or scheme."""
    w = watches.c
    match = sa.or_(
        sa.and_(w.kind == "certificate", w.value == number),
        sa.and_(w.kind == "holder", w.value == holder),
        sa.and_(w.kind == "issuing_body", w.value == body),
        *([sa.and_(w.kind == "scheme", w.value == scheme)] if scheme else []),
    )
    return sa.select(w.subscriber_uscc).where(match).distinct()


def claimable(now: dt.datetime, limit: int) -> sa.Select[Any]:
    """Due deliveries of active endpoints that are first in line for their certificate at their
    endpoint (an earlier pending one holds the later back: order per certificate), locked for
    this transaction and skipping rows another replica holds (PostgreSQL; SQLite has one writer)."""
    d, e = deliveries, endpoints
    earlier = deliveries.alias("earlier")
    waits_for_earlier = sa.exists().where(
        earlier.c.endpoint_id == d.c.endpoint_id,
        earlier.c.certificate_number == d.c.certificate_number,
        earlier.c.status == DeliveryStatus.PENDING.value,
        earlier.c.seq < d.c.seq,
    )
    return (
        sa.select(d.c.seq)
        .join(e, e.c.id == d.c.endpoint_id)
        .where(
            d.c.status == DeliveryStatus.PENDING.value,
            d.c.next_attempt_at <= now,
            sa.or_(d.c.claimed_until.is_(None), d.c.claimed_until < now),
            e.c.status == EndpointStatus.ACTIVE.value,
            ~waits_for_earlier,
        )
        .order_by(d.c.next_attempt_at, d.c.seq)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
    )


async def claim(conn: AsyncConnection | AsyncSession, now: dt.datetime, limit: int, token: str,
                until: dt.datetime) -> list[sa.Row[Any]]:
    """Claim up to `limit` due deliveries for this sender; the rows to send, with body and endpoint.

    One UPDATE ... WHERE seq IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING seq: on PostgreSQL replicas skip
    each other's rows instead of waiting; on SQLite the one statement takes the write lock at once,
    so a claim never meets a writer that committed between its read and its write."""
    d = deliveries.c
    seqs = list((await conn.execute(
        sa.update(deliveries).where(d.seq.in_(claimable(now, limit).scalar_subquery()))
        .values(claimed_until=until, claim=token).returning(d.seq)
    )).scalars())
    if not seqs:
        return []
    e = endpoints.c
    rows = await conn.execute(
        sa.select(d.seq, d.id, d.endpoint_id, d.subscriber_uscc, d.certificate_number, d.attempts, d.retry_from,
                  changes.c.body, changes.c.event_id.label("cause_event_id"), e.url, e.secret, e.previous_secret,
                  e.previous_secret_until)
        .join(changes, changes.c.id == d.change_id)
        .join(endpoints, endpoints.c.id == d.endpoint_id)
        .where(d.seq.in_(seqs))  # by primary key: `claim` has no index
        .order_by(d.seq)
    )
    return list(rows)


async def count_watches(session: AsyncSession, subscriber: str, kind: str) -> int:
    return await session.scalar(
        sa.select(sa.func.count()).select_from(watches).where(watches.c.subscriber_uscc == subscriber,
                                                               watches.c.kind == kind)
    ) or 0


async def existing_values(session: AsyncSession, subscriber: str, kind: str, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), 5000):
        chunk = values[start:start + 5000]
        found.update((await session.execute(
            sa.select(watches.c.value).where(watches.c.subscriber_uscc == subscriber, watches.c.kind == kind,
                                             watches.c.value.in_(chunk))
        )).scalars())
    return found


async def known_numbers(session: AsyncSession, values: Sequence[str], column: sa.Column[Any]) -> set[str]:
    """Which of `values` the read model knows (as certificate numbers, holders or bodies)."""
    found: set[str] = set()
    for start in range(0, len(values), 5000):
        chunk = values[start:start + 5000]
        found.update((await session.execute(sa.select(column).where(column.in_(chunk)).distinct())).scalars())
    return found
