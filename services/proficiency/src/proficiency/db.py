"""The proficiency service's tables: rounds with their enrolments, results and scores,
blind samples, and each lab's outcome history per field (for the consequence rule); the
mapping between their rows and the domain's aggregates; the loads, saves and queries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared.db import UTCDateTime, messaging_tables
from conformity_shared.errors import NotFound

from proficiency import domain

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
    sa.Column("sigma_pt_method", sa.String(10), nullable=False),  # domain.SigmaPtMethod
    sa.Column("sigma_pt", sa.Float, nullable=True),  # the fixed value; None when robust
    sa.Column("assigned_value_method", sa.String(10), nullable=False),  # domain.AssignedValueMethod
    sa.Column("reference_value", sa.Float, nullable=True),
    sa.Column("reference_expanded_uncertainty", sa.Float, nullable=True),
    sa.Column("reference_coverage_factor", sa.Float, nullable=True),
    # domain.AlgorithmAStopping; rounds created before the choice existed were full convergence.
    sa.Column("algorithm_a_stopping", sa.String(30), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # domain.RoundStatus
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("created_by", sa.String(120), nullable=False),
    sa.Column("closed_at", TZ, nullable=True),
    # Assigned value, its uncertainties, sigma_pt, z' or z, Algorithm A's x* and s*.
    sa.Column("evaluation", sa.JSON, nullable=True),
    # The values the regulator chose at closing for a round its design could not evaluate,
    # with the reason, who and when (None when closed as designed).
    sa.Column("closing_decision", sa.JSON, nullable=True),
    sa.Column("cancelled_at", TZ, nullable=True),
    sa.Column("cancelled_by", sa.String(120), nullable=True),
    sa.Column("cancellation_reason", sa.String(1000), nullable=True),
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
    sa.Column("score_kind", sa.String(4), nullable=False),  # domain.ScoreKind
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
    sa.Column("status", sa.String(10), nullable=False),  # domain.BlindSampleStatus
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
    sa.Column("kind", sa.String(12), nullable=False),  # domain.OutcomeKind
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


# ==========================================================================================
# Rounds
# ==========================================================================================


async def round_row(session: AsyncSession, round_id: str) -> Any:
    row = (await session.execute(sa.select(rounds).where(rounds.c.id == round_id))).first()
    if row is None:
        raise NotFound(f"round {round_id} not found", field="round_id")
    return row


async def enrolled_labs(session: AsyncSession, round_id: str) -> list[str]:
    e = enrolments
    return list((await session.scalars(sa.select(e.c.lab_uscc).where(e.c.round_id == round_id).order_by(e.c.lab_uscc))).all())


async def is_enrolled(session: AsyncSession, round_id: str, lab: str | None) -> bool:
    e = enrolments
    found = await session.scalar(sa.select(e.c.lab_uscc).where(e.c.round_id == round_id, e.c.lab_uscc == lab))
    return found is not None


async def submitted_labs(session: AsyncSession, round_id: str) -> set[str]:
    return set((await session.scalars(sa.select(results.c.lab_uscc).where(results.c.round_id == round_id))).all())


def design_of(row: Any) -> domain.RoundDesign:
    """The round's design from its row (the methods are stored by their enum values)."""
    assigned: domain.ReferenceAssignedValue | domain.ConsensusAssignedValue = domain.ConsensusAssignedValue()
    if row.assigned_value_method == domain.AssignedValueMethod.REFERENCE.value:
        assigned = domain.ReferenceAssignedValue(
            row.reference_value, row.reference_expanded_uncertainty, row.reference_coverage_factor
        )
    sigma: domain.FixedSigmaPt | domain.RobustSigmaPt = domain.RobustSigmaPt()
    if row.sigma_pt_method == domain.SigmaPtMethod.FIXED.value:
        sigma = domain.FixedSigmaPt(row.sigma_pt)
    return domain.RoundDesign(assigned, sigma, domain.AlgorithmAStopping(row.algorithm_a_stopping))


def design_values(design: domain.RoundDesign) -> dict[str, Any]:
    """The round's columns that hold its design."""
    assigned, sigma = design.assigned_value, design.sigma_pt
    values: dict[str, Any] = dict(
        sigma_pt_method=sigma.method.value,
        sigma_pt=sigma.value if isinstance(sigma, domain.FixedSigmaPt) else None,
        assigned_value_method=assigned.method.value,
        reference_value=None, reference_expanded_uncertainty=None, reference_coverage_factor=None,
        algorithm_a_stopping=design.algorithm_a_stopping.value,
    )
    if isinstance(assigned, domain.ReferenceAssignedValue):
        values.update(
            reference_value=assigned.value, reference_expanded_uncertainty=assigned.expanded_uncertainty,
            reference_coverage_factor=assigned.coverage_factor,
        )
    return values


async def take_field_turn(session: AsyncSession, field: str) -> None:
    """Closes in one field take turns (PostgreSQL; SQLite has one writer anyway): each must see
    the outcomes the previous one recorded, or two action signals in a row go unseen."""
    await session.execute(
        sa.select(rounds.c.id).where(rounds.c.field == field).order_by(rounds.c.id).with_for_update()
    )


async def load_round(session: AsyncSession, round_id: str, *, field_turn: bool = False) -> domain.ProficiencyRound:
    """The round as the domain sees it: its enrolments, and its results in submission order.
    With ``field_turn``, waits for the turn of the round's field first (see ``take_field_turn``)."""
    row = await round_row(session, round_id)
    if field_turn:
        await take_field_turn(session, row.field)
    enrolled = await enrolled_labs(session, round_id)
    r = results
    stored = (
        await session.execute(sa.select(r).where(r.c.round_id == round_id).order_by(r.c.submitted_at, r.c.lab_uscc))
    ).all()
    return domain.ProficiencyRound(
        row.id, field=row.field, measurand=row.measurand, unit=row.unit, deadline=row.deadline,
        design=design_of(row), enrolled_labs=enrolled, status=domain.RoundStatus(row.status),
        submitted={
            x.lab_uscc: domain.ParticipantResult(x.lab_uscc, x.value, x.expanded_uncertainty, x.coverage_factor)
            for x in stored
        },
        cancellation=cancellation_of(row), closing_decision=closing_decision_of(row),
    )


def cancellation_of(row: Any) -> domain.Cancellation | None:
    if row.cancelled_at is None:
        return None
    return domain.Cancellation(row.cancellation_reason, row.cancelled_by, row.cancelled_at)


def closing_decision_of(row: Any) -> domain.ClosingDecision | None:
    """The values chosen at closing, as the domain holds them (see ``closing_decision_json``)."""
    decision = row.closing_decision
    if decision is None:
        return None
    assigned, sigma = decision["assigned_value"], decision["sigma_pt"]
    return domain.ClosingDecision(
        assigned_value=None if assigned is None else domain.ReferenceAssignedValue(
            assigned["value"], assigned["expanded_uncertainty"], assigned["coverage_factor"]
        ),
        sigma_pt=None if sigma is None else domain.FixedSigmaPt(sigma["value"]),
        reason=decision["reason"], by=decision["decided_by"], at=dt.datetime.fromisoformat(decision["at"]),
    )


async def add_round(session: AsyncSession, rnd: domain.ProficiencyRound, *, created_by: str, at: dt.datetime) -> None:
    """A new round and the labs enrolled at its creation."""
    await session.execute(
        sa.insert(rounds).values(
            id=rnd.round_id, field=rnd.field, measurand=rnd.measurand, unit=rnd.unit, deadline=rnd.deadline,
            **design_values(rnd.design), status=rnd.status.value, created_at=at, created_by=created_by,
        )
    )
    await add_enrolments(session, rnd.round_id, sorted(rnd.enrolled_labs), at)


async def add_enrolments(session: AsyncSession, round_id: str, labs: Sequence[str], at: dt.datetime) -> None:
    if labs:
        await session.execute(
            sa.insert(enrolments), [{"round_id": round_id, "lab_uscc": lab, "enrolled_at": at} for lab in labs]
        )


async def add_result(
    session: AsyncSession, round_id: str, result: domain.ParticipantResult, at: dt.datetime
) -> None:
    """A lab's result; the primary key refuses a second one (IntegrityError) even from a racing request."""
    await session.execute(
        sa.insert(results).values(
            round_id=round_id, lab_uscc=result.lab_id, value=result.value,
            expanded_uncertainty=result.expanded_uncertainty, coverage_factor=result.coverage_factor,
            submitted_at=at,
        )
    )


def evaluation_json(evaluation: domain.RoundEvaluation) -> dict[str, Any]:
    """What the round's row keeps of its evaluation (the scores have their own table)."""
    robust = evaluation.robust_estimate
    return {
        "assigned_value_method": evaluation.assigned_value_method.value,
        "sigma_pt_method": evaluation.sigma_pt_method.value,
        "assigned_value": evaluation.assigned_value,
        "standard_uncertainty": evaluation.standard_uncertainty,
        "expanded_uncertainty": evaluation.expanded_uncertainty,
        "sigma_pt": evaluation.sigma_pt,
        "z_prime_used": evaluation.z_prime_used,
        "robust_estimate": (
            {"x_star": robust.x_star, "s_star": robust.s_star, "iterations": robust.iterations, "p": robust.p,
             "stopping": robust.stopping.value}
            if robust else None
        ),
    }


def closing_decision_json(decision: domain.ClosingDecision | None) -> dict[str, Any] | None:
    """The values chosen at closing (in the shape `POST /rounds` takes them), why, who, when."""
    if decision is None:
        return None
    assigned, sigma = decision.assigned_value, decision.sigma_pt
    return {
        "assigned_value": None if assigned is None else {
            "method": assigned.method.value, "value": assigned.value,
            "expanded_uncertainty": assigned.expanded_uncertainty, "coverage_factor": assigned.coverage_factor,
        },
        "sigma_pt": None if sigma is None else {"method": sigma.method.value, "value": sigma.value},
        "reason": decision.reason, "decided_by": decision.by, "at": decision.at.isoformat(),
    }


async def save_closed_round(session: AsyncSession, rnd: domain.ProficiencyRound, at: dt.datetime) -> bool:
    """The closed round, its evaluation (and the values chosen at closing, if any) and every
    lab's scores; False when the round was no longer open (closed or cancelled by a concurrent
    request), and then nothing is written."""
    assert rnd.evaluation is not None
    changed = await session.execute(
        sa.update(rounds)
        .where(rounds.c.id == rnd.round_id, rounds.c.status == domain.RoundStatus.OPEN.value)
        .values(status=rnd.status.value, closed_at=at, evaluation=evaluation_json(rnd.evaluation),
                closing_decision=closing_decision_json(rnd.closing_decision))
    )
    if changed.rowcount != 1:
        return False
    if rnd.evaluation.labs:
        await session.execute(sa.insert(scores), [score_values(rnd.round_id, p) for p in rnd.evaluation.labs])
    return True


async def save_cancelled_round(session: AsyncSession, rnd: domain.ProficiencyRound) -> bool:
    """The cancelled round with its reason, who and when; False when the round was no longer
    open (closed or cancelled by a concurrent request), and then nothing is written."""
    cancellation = rnd.cancellation
    assert cancellation is not None
    changed = await session.execute(
        sa.update(rounds)
        .where(rounds.c.id == rnd.round_id, rounds.c.status == domain.RoundStatus.OPEN.value)
        .values(status=rnd.status.value, cancelled_at=cancellation.at, cancelled_by=cancellation.by,
                cancellation_reason=cancellation.reason)
    )
    return changed.rowcount == 1


def score_values(round_id: str, p: domain.LabPerformance) -> dict[str, Any]:
    return dict(
        round_id=round_id, lab_uscc=p.lab_id, score_kind=p.score_kind.value, score=p.score,
        signal=p.signal.value, zeta=p.zeta, zeta_signal=p.zeta_signal and p.zeta_signal.value,
        en=p.en, en_signal=p.en_signal and p.en_signal.value,
    )


async def round_rows(
    session: AsyncSession, *, every_round: bool, lab: str | None, status: domain.RoundStatus | None,
    field: str | None, limit: int, offset: int,
) -> Sequence[Any]:
    """Rounds, newest first: every round, or only those ``lab`` is enrolled in."""
    t = rounds
    query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id).limit(limit).offset(offset)
    if not every_round:
        e = enrolments
        query = query.where(t.c.id.in_(sa.select(e.c.round_id).where(e.c.lab_uscc == lab)))
    if status:
        query = query.where(t.c.status == status.value)
    if field:
        query = query.where(t.c.field == field)
    return (await session.execute(query)).all()


async def result_and_score(session: AsyncSession, round_id: str, lab: str) -> tuple[Any, Any]:
    """A lab's result row (None if it has none) and its score row (None before closing)."""
    r, s = results, scores
    row = (await session.execute(sa.select(r).where(r.c.round_id == round_id, r.c.lab_uscc == lab))).first()
    if row is None:
        return None, None
    score = (await session.execute(sa.select(s).where(s.c.round_id == round_id, s.c.lab_uscc == lab))).first()
    return row, score


async def scored_results(session: AsyncSession, round_id: str) -> Sequence[Any]:
    """Every lab's result with its scores, by value."""
    r, s = results, scores
    return (
        await session.execute(
            sa.select(r.c.lab_uscc, r.c.value, r.c.expanded_uncertainty, r.c.coverage_factor, r.c.submitted_at,
                      s.c.score_kind, s.c.score, s.c.signal, s.c.zeta, s.c.zeta_signal, s.c.en, s.c.en_signal)
            .join(s, sa.and_(s.c.round_id == r.c.round_id, s.c.lab_uscc == r.c.lab_uscc))
            .where(r.c.round_id == round_id)
            .order_by(r.c.value, r.c.lab_uscc)
        )
    ).all()


# ==========================================================================================
# Blind samples
# ==========================================================================================


async def add_blind_sample(
    session: AsyncSession, sample: domain.BlindSample, *, field: str, lab_uscc: str, measurand: str, unit: str,
    description: str | None, registered_by: str, at: dt.datetime,
) -> None:
    await session.execute(
        sa.insert(blind_samples).values(
            id=sample.sample_id, field=field, lab_uscc=lab_uscc, measurand=measurand, unit=unit,
            description=description, known_value=sample.known_value, tolerance=sample.tolerance,
            registered_at=at, registered_by=registered_by, status=sample.status.value,
        )
    )


async def blind_sample_row(session: AsyncSession, sample_id: str) -> Any:
    row = (await session.execute(sa.select(blind_samples).where(blind_samples.c.id == sample_id))).first()
    if row is None:
        raise NotFound(f"blind sample {sample_id} not found", field="sample_id")
    return row


async def lab_sample_row(session: AsyncSession, lab: str | None, sample_id: str) -> Any:
    """The sample, if it was assigned to ``lab``: another lab's sample does not exist for this one."""
    b = blind_samples
    row = (await session.execute(sa.select(b).where(b.c.id == sample_id, b.c.lab_uscc == lab))).first()
    if row is None:
        raise NotFound(f"sample {sample_id} not found", field="sample_id")
    return row


async def blind_sample_rows(session: AsyncSession, lab: str | None, limit: int, offset: int) -> Sequence[Any]:
    """Blind samples, newest first; unless ``lab`` is None, only that lab's."""
    b = blind_samples
    query = sa.select(b).order_by(b.c.registered_at.desc(), b.c.id).limit(limit).offset(offset)
    if lab is not None:
        query = query.where(b.c.lab_uscc == lab)
    return (await session.execute(query)).all()


async def lab_sample_rows(session: AsyncSession, lab: str | None) -> Sequence[Any]:
    """The samples assigned to ``lab``, oldest first."""
    b = blind_samples
    return (await session.execute(sa.select(b).where(b.c.lab_uscc == lab).order_by(b.c.registered_at, b.c.id))).all()


def blind_sample_of(row: Any) -> domain.BlindSample:
    """The sample as the domain sees it: the check, and the report once there is one."""
    report = None
    if row.reported_at is not None:
        report = domain.SampleReport(
            row.reported_value, row.reported_expanded_uncertainty, row.reported_coverage_factor, row.reported_at,
            row.deviation, bool(row.passed),
        )
    return domain.BlindSample(row.id, row.known_value, row.tolerance, domain.BlindSampleStatus(row.status), report)


async def save_sample_report(session: AsyncSession, sample: domain.BlindSample) -> bool:
    """The lab's report and its verdict; False when the sample was no longer assigned (reported
    by a concurrent request), and then nothing is written."""
    b, report = blind_samples, sample.report
    assert report is not None
    changed = await session.execute(
        sa.update(b).where(b.c.id == sample.sample_id, b.c.status == domain.BlindSampleStatus.ASSIGNED.value).values(
            status=sample.status.value, reported_value=report.value,
            reported_expanded_uncertainty=report.expanded_uncertainty,
            reported_coverage_factor=report.coverage_factor, reported_at=report.at,
            deviation=report.deviation, passed=report.passed,
        )
    )
    return changed.rowcount == 1


# ==========================================================================================
# Each lab's outcomes per field, and the suspensions they required
# ==========================================================================================


async def add_outcome(
    session: AsyncSession, lab: str, field: str, entry: domain.HistoryEntry, at: dt.datetime
) -> None:
    """One more outcome in the lab's history in the field: a round's signal or a sample's verdict."""
    await session.execute(
        sa.insert(lab_outcomes).values(
            lab_uscc=lab, field=field, kind=entry.kind.value, reference_id=entry.reference_id,
            signal=entry.signal.value if isinstance(entry, domain.RoundOutcome) else None,
            passed=entry.passed if isinstance(entry, domain.BlindSampleOutcome) else None,
            failure=domain.is_lab_failure(entry), at=at,
        )
    )


async def unsettled_outcomes(session: AsyncSession, lab: str, field: str) -> list[tuple[int, domain.HistoryEntry]]:
    """The lab's outcomes in the field that no suspension has settled yet, oldest first, with
    their sequence numbers."""
    o = lab_outcomes
    rows = (
        await session.execute(
            sa.select(o.c.seq, o.c.kind, o.c.reference_id, o.c.signal, o.c.passed)
            .where(o.c.lab_uscc == lab, o.c.field == field, o.c.settled_by.is_(None))
            .order_by(o.c.seq)
        )
    ).all()
    return [(r.seq, history_entry_of(r)) for r in rows]


def history_entry_of(row: Any) -> domain.HistoryEntry:
    if row.kind == domain.OutcomeKind.ROUND.value:
        return domain.RoundOutcome(row.reference_id, domain.Signal(row.signal))
    return domain.BlindSampleOutcome(row.reference_id, bool(row.passed))


async def add_field_suspension(
    session: AsyncSession, lab: str, field: str, reason: domain.SuspensionReason, at: dt.datetime,
    settles: Iterable[int],
) -> str:
    """The suspension the rule required, settling the outcomes that met it; returns its id."""
    suspension_id = str(uuid.uuid4())
    await session.execute(
        sa.insert(field_suspensions).values(
            id=suspension_id, lab_uscc=lab, field=field, rule=reason.rule.value, evidence=list(reason.evidence), at=at
        )
    )
    await session.execute(
        sa.update(lab_outcomes).where(lab_outcomes.c.seq.in_(list(settles))).values(settled_by=suspension_id)
    )
    return suspension_id


async def lab_history(session: AsyncSession, lab: str) -> tuple[Sequence[Any], Sequence[Any]]:
    """A lab's outcome rows (in order) and its field-suspension rows (by time)."""
    o, s = lab_outcomes, field_suspensions
    outcomes = (await session.execute(sa.select(o).where(o.c.lab_uscc == lab).order_by(o.c.seq))).all()
    suspensions = (await session.execute(sa.select(s).where(s.c.lab_uscc == lab).order_by(s.c.at))).all()
    return outcomes, suspensions
