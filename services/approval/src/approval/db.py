"""The approval service's tables: applications, approvals with their history, and
post-approval verifications."""

from __future__ import annotations

import sqlalchemy as sa

from conformity_shared.db import UTCDateTime, messaging_tables

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("organisation_name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("path", sa.String(20), nullable=False),
    sa.Column("requested_fields", sa.JSON, nullable=False),
    sa.Column("declared", sa.JSON, nullable=False),
    sa.Column("commitment_text", sa.Text, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("failed_rules", sa.JSON, nullable=False),
    sa.Column("submitted_at", TZ, nullable=False),
    sa.Column("accepted_on", sa.Date, nullable=True),
    sa.Column("decision_due", sa.Date, nullable=True, index=True),
    sa.Column("decided_at", TZ, nullable=True),
    sa.Column("decided_by", sa.String(120), nullable=True),
    sa.Column("decision_reasons", sa.JSON, nullable=False),
    sa.Column("approval_id", sa.String(36), nullable=True),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("organisation_name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("path", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("suspended_fields", sa.JSON, nullable=False),
    sa.Column("application_id", sa.String(36), nullable=False),
    sa.Column("granted_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
)

approval_history = sa.Table(
    "approval_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("approval_id", sa.String(36), sa.ForeignKey("approvals.id"), nullable=False, index=True),
    # granted | suspended | reinstated | scope_reduced | revoked (a field suspension keeps the status)
    sa.Column("action", sa.String(20), nullable=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(120), nullable=True),
    sa.Column("cause_event_id", sa.String(64), nullable=True),
    sa.Column("at", TZ, nullable=False),
)

verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("approval_id", sa.String(36), sa.ForeignKey("approvals.id"), nullable=False, index=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False),
    sa.Column("due", sa.Date, nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),  # scheduled | confirmed | breached
    sa.Column("inspector_id", sa.String(64), nullable=True),
    sa.Column("findings", sa.Text, nullable=True),
    sa.Column("recorded_at", TZ, nullable=True),
)

credit_sanctions = sa.Table(
    "credit_sanctions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("verification_id", sa.String(36), nullable=True),
    sa.Column("at", TZ, nullable=False),
)
