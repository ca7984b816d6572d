"""The certificates service's tables: certificates, their history, and its read model of
approved bodies (fed only by approval events)."""

from __future__ import annotations

import sqlalchemy as sa

from conformity_shared.db import UTCDateTime, messaging_tables

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()

bodies = sa.Table(
    "approved_bodies",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("approval_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active | suspended | revoked
    sa.Column("fields", sa.JSON, nullable=False),  # approved fields
    sa.Column("suspended_fields", sa.JSON, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("number", sa.String(40), primary_key=True),
    sa.Column("issuing_body_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("holder_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("holder_name", sa.String(300), nullable=False),
    sa.Column("scheme", sa.String(40), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("product", sa.String(500), nullable=False),
    sa.Column("standard", sa.String(200), nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("suspension_reason", sa.String(40), nullable=True),
    sa.Column("suspended_until", sa.Date, nullable=True),
    sa.Column("suspended_by", sa.String(64), nullable=True),  # the spot check (inspection id) or event id
    sa.Column("last_change_at", TZ, nullable=False),
    # Kept on the row so that public verification answers from one primary-key lookup.
    sa.Column("last_change_reason", sa.String(300), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, default=1),
)
sa.Index("ix_certificates_body_status", certificates.c.issuing_body_uscc, certificates.c.status)
sa.Index("ix_certificates_status_suspended_until", certificates.c.status, certificates.c.suspended_until)
sa.Index("ix_certificates_status_valid_until", certificates.c.status, certificates.c.valid_until)

history = sa.Table(
    "certificate_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("certificate_number", sa.String(40), sa.ForeignKey("certificates.number"), nullable=False, index=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("actor", sa.String(120), nullable=True),
    sa.Column("cause_event_id", sa.String(64), nullable=True),
    sa.Column("at", TZ, nullable=False),
    sa.Column("note", sa.String(1000), nullable=True),
)

number_sequences = sa.Table(
    "number_sequences",
    metadata,
    sa.Column("prefix", sa.String(40), primary_key=True),
    sa.Column("last", sa.BigInteger, nullable=False),
)

holder_requests = sa.Table(
    "holder_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("certificate_number", sa.String(40), sa.ForeignKey("certificates.number"), nullable=False, index=True),
    sa.Column("action", sa.String(20), nullable=False),  # suspend | cancel
    sa.Column("requested_by_body", sa.String(18), nullable=False),
    sa.Column("holder_reference", sa.String(200), nullable=False),
    sa.Column("at", TZ, nullable=False),
)

scheduler_leases = sa.Table(
    "scheduler_leases",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("holder", sa.String(80), nullable=False),
    sa.Column("expires_at", TZ, nullable=False),
)
