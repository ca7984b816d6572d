"""The supervision service's tables: directories (targets, inspectors), credit history,
campaigns with their published draws, inspections and their results."""

from __future__ import annotations

import sqlalchemy as sa

from conformity_shared.db import UTCDateTime, messaging_tables

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False, index=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("credit_class", sa.String(1), nullable=False),
    sa.Column("clean_since", TZ, nullable=False),  # start of the current clean period
    sa.Column("updated_at", TZ, nullable=False),
)

target_certificates = sa.Table(
    "target_certificates",
    metadata,
    sa.Column("certificate_number", sa.String(40), primary_key=True),
    sa.Column("holder_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
)

inspectors = sa.Table(
    "inspectors",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("organisation", sa.String(18), nullable=False),
    sa.Column("region", sa.String(40), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("registered_at", TZ, nullable=False),
)

credit_changes = sa.Table(
    "credit_changes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("organisation_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("previous", sa.String(1), nullable=False),
    sa.Column("current", sa.String(1), nullable=False),
    sa.Column("cause", sa.String(300), nullable=False),
    sa.Column("cause_event_id", sa.String(64), nullable=True),
    sa.Column("at", TZ, nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("target_kinds", sa.JSON, nullable=False),
    sa.Column("ratios", sa.JSON, nullable=False),
    sa.Column("inspectors_per_target", sa.Integer, nullable=False),
    sa.Column("seed", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # created | drawn
    sa.Column("snapshot", sa.LargeBinary, nullable=True),  # the canonical bytes the draw used
    sa.Column("snapshot_hash", sa.String(64), nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("drawn_at", TZ, nullable=True),
)

inspections = sa.Table(
    "inspections",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=True, index=True),
    sa.Column("target_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("target_kind", sa.String(30), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),  # organisation_inspection | product_spot_check | re_inspection
    sa.Column("spot_check_id", sa.String(36), nullable=True),  # a re-inspection follows up this spot check
    sa.Column("certificates_to_verify", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # assigned | completed
    sa.Column("verdict", sa.String(10), nullable=True),  # pass | fail
    sa.Column("findings", sa.Text, nullable=True),
    sa.Column("samples", sa.JSON, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("completed_at", TZ, nullable=True, index=True),
    sa.Column("recorded_by", sa.String(64), nullable=True),
)

inspection_assignments = sa.Table(
    "inspection_assignments",
    metadata,
    sa.Column("inspection_id", sa.String(36), sa.ForeignKey("inspections.id"), primary_key=True),
    sa.Column("inspector_id", sa.String(64), sa.ForeignKey("inspectors.id"), primary_key=True),
)
