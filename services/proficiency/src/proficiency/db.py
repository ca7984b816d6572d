"""The proficiency service's tables: rounds with their enrolments, results and scores,
blind samples, and each lab's outcome history per field (for the consequence rule)."""

from __future__ import annotations

import sqlalchemy as sa

from conformity_shared.db import UTCDateTime, messaging_tables

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()
SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite autoincrements only INTEGER keys

rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("field", sa.String(40), nullable=False, index=True),
    sa.Column("measurand", sa.String(300), nullable=False),
    sa.Column("unit", sa.String(40), nullable=False),
    sa.Column("deadline", TZ, nullable=False),
    sa.Column("sigma_pt_method", sa.String(10), nullable=False),  # fixed | robust
    sa.Column("sigma_pt", sa.Float, nullable=True),  # the fixed value; None when robust
    sa.Column("assigned_value_method", sa.String(10), nullable=False),  # reference | consensus
    sa.Column("reference_value", sa.Float, nullable=True),
    sa.Column("reference_expanded_uncertainty", sa.Float, nullable=True),
    sa.Column("reference_coverage_factor", sa.Float, nullable=True),
    sa.Column("status", sa.String(10), nullable=False),  # open | closed
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("created_by", sa.String(120), nullable=False),
    sa.Column("closed_at", TZ, nullable=True),
    # Assigned value, its uncertainties, sigma_pt, z' or z, Algorithm A's x* and s*.
    sa.Column("evaluation", sa.JSON, nullable=True),
)

enrolments = sa.Table(
    "enrolments",
    metadata,
    sa.Column("round_id", sa.String(36), sa.ForeignKey("rounds.id"), primary_key=True),
    sa.Column("lab_uscc", sa.String(18), primary_key=True),
    sa.Column("enrolled_at", TZ, nullable=False),
)
sa.Index("ix_enrolments_lab", enrolments.c.lab_uscc)

results = sa.Table(
    "results",
    metadata,
    # The primary key is the one-result-per-lab rule, held even by two racing requests.
    sa.Column("round_id", sa.String(36), sa.ForeignKey("rounds.id"), primary_key=True),
    sa.Column("lab_uscc", sa.String(18), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("expanded_uncertainty", sa.Float, nullable=True),
    sa.Column("coverage_factor", sa.Float, nullable=True),
    sa.Column("submitted_at", TZ, nullable=False),
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("round_id", sa.String(36), sa.ForeignKey("rounds.id"), primary_key=True),
    sa.Column("lab_uscc", sa.String(18), primary_key=True),
    sa.Column("score_kind", sa.String(4), nullable=False),  # z | z'
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("signal", sa.String(12), nullable=False),
    sa.Column("zeta", sa.Float, nullable=True),
    sa.Column("zeta_signal", sa.String(12), nullable=True),
    sa.Column("en", sa.Float, nullable=True),
    sa.Column("en_signal", sa.String(12), nullable=True),
)

blind_samples = sa.Table(
    "blind_samples",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("lab_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("measurand", sa.String(300), nullable=False),
    sa.Column("unit", sa.String(40), nullable=False),
    sa.Column("description", sa.String(1000), nullable=True),  # what the lab is told about the sample
    # Never shown to the lab:
    sa.Column("known_value", sa.Float, nullable=False),
    sa.Column("tolerance", sa.Float, nullable=False),
    sa.Column("registered_at", TZ, nullable=False),
    sa.Column("registered_by", sa.String(120), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # assigned | reported
    sa.Column("reported_value", sa.Float, nullable=True),
    sa.Column("reported_expanded_uncertainty", sa.Float, nullable=True),
    sa.Column("reported_coverage_factor", sa.Float, nullable=True),
    sa.Column("reported_at", TZ, nullable=True),
    sa.Column("deviation", sa.Float, nullable=True),
    sa.Column("passed", sa.Boolean, nullable=True),
)

lab_outcomes = sa.Table(
    "lab_outcomes",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("lab_uscc", sa.String(18), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),  # round | blind_sample
    sa.Column("reference_id", sa.String(36), nullable=False),  # the round or the blind sample
    sa.Column("signal", sa.String(12), nullable=True),  # rounds: the z (or z') signal
    sa.Column("passed", sa.Boolean, nullable=True),  # blind samples
    sa.Column("failure", sa.Boolean, nullable=False),
    sa.Column("at", TZ, nullable=False),
    # The suspension these outcomes already led to: the rule then counts only later ones,
    # so that one pair of action signals suspends the field once, not at every later round.
    sa.Column("settled_by", sa.String(36), sa.ForeignKey("field_suspensions.id"), nullable=True),
)
sa.Index("ix_lab_outcomes_lab_field", lab_outcomes.c.lab_uscc, lab_outcomes.c.field, lab_outcomes.c.seq)

field_suspensions = sa.Table(
    "field_suspensions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("lab_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("rule", sa.String(80), nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),  # the rounds or the sample that met the rule
    sa.Column("at", TZ, nullable=False),
)
