"""Rounds (ISO/IEC 17043): creation, enrolment, one result per lab before the deadline, and
closing, which evaluates the round by ISO 13528 and records each lab's outcome."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import exc as sa_exc

from conformity_shared import events
from conformity_shared.auth import Principal
from conformity_shared.errors import Conflict, DomainError, Forbidden, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from proficiency import db, domain
from proficiency.domain import iso13528
from proficiency.service.consequences import record_outcome
from proficiency.service.refusals import invalid, naming, refused
from proficiency.service.reports import round_report
from proficiency.service.views import (
    design_view,
    enrolled_labs,
    is_regulator,
    result_view,
    round_row,
    round_view,
    visible_round,
)

log = structlog.get_logger("proficiency")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- rounds: loading -----------------------------------------------------------------------


def _design(row: Any) -> iso13528.RoundDesign:
    if row.assigned_value_method == "reference":
        assigned: iso13528.ReferenceAssignedValue | iso13528.ConsensusAssignedValue = (
            iso13528.ReferenceAssignedValue(
                row.reference_value, row.reference_expanded_uncertainty, row.reference_coverage_factor
            )
        )
    else:
        assigned = iso13528.ConsensusAssignedValue()
    sigma: iso13528.FixedSigmaPt | iso13528.RobustSigmaPt = (
        iso13528.FixedSigmaPt(row.sigma_pt) if row.sigma_pt_method == "fixed" else iso13528.RobustSigmaPt()
    )
    return iso13528.RoundDesign(assigned, sigma)


async def _domain_round(session: Any, row: Any) -> domain.ProficiencyRound:
    """The round as the domain sees it: enrolments and results replayed in submission order."""
    rnd = domain.ProficiencyRound(
        row.id, field=row.field, measurand=row.measurand, unit=row.unit, deadline=row.deadline,
        design=_design(row), enrolled_labs=await enrolled_labs(session, row.id),
    )
    r = db.results
    stored = (
        await session.execute(
            sa.select(r).where(r.c.round_id == row.id).order_by(r.c.submitted_at, r.c.lab_uscc)
        )
    ).all()
    for result in stored:
        rnd.submit(
            result.lab_uscc, result.value, expanded_uncertainty=result.expanded_uncertainty,
            coverage_factor=result.coverage_factor, at=result.submitted_at,
        )
    if row.status == domain.RoundStatus.CLOSED:
        rnd.status = domain.RoundStatus.CLOSED
    return rnd


# --- rounds: use cases ---------------------------------------------------------------------


async def create_round(
    runtime: ServiceRuntime, principal: Principal, request: dict[str, Any], now: dt.datetime | None = None
) -> dict[str, Any]:
    """A regulator opens a round (ISO/IEC 17043) of one measurand in one test field."""
    now = now or _now()
    if request["deadline"] <= now:
        raise DomainError(
            f"the deadline {request['deadline'].isoformat()} has passed: a round needs time for the labs to test",
            field="deadline",
        )
    assigned, sigma = request["assigned_value"], request["sigma_pt"]
    values = dict(
        id=str(uuid.uuid4()), field=request["field"], measurand=request["measurand"], unit=request["unit"],
        deadline=request["deadline"], sigma_pt_method=sigma["method"], sigma_pt=sigma.get("value"),
        assigned_value_method=assigned["method"], reference_value=assigned.get("value"),
        reference_expanded_uncertainty=assigned.get("expanded_uncertainty"),
        reference_coverage_factor=assigned.get("coverage_factor"), status=domain.RoundStatus.OPEN.value,
        created_at=now, created_by=principal.actor,
    )
    try:
        _design(SimpleNamespace(**values))  # the statistics' own checks on the design
    except ValueError as exc:
        raise invalid(exc, "assigned_value" if "reference" in str(exc) else "sigma_pt", "a valid round design") from None
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(sa.insert(db.rounds).values(**values))
        await _enrol(uow, values["id"], request.get("labs") or [], now)
        await uow.commit()
    log.info("round created", round_id=values["id"], field=values["field"])
    return await get_round(runtime, principal, values["id"])


async def _enrol(uow: UnitOfWork, round_id: str, labs: list[str], now: dt.datetime) -> list[str]:
    """Enrol the labs not enrolled yet; returns those newly enrolled."""
    already = set(await enrolled_labs(uow.session, round_id))
    new = sorted(set(labs) - already)
    if new:
        await uow.session.execute(
            sa.insert(db.enrolments), [{"round_id": round_id, "lab_uscc": lab, "enrolled_at": now} for lab in new]
        )
    return new


async def enrol(
    runtime: ServiceRuntime, principal: Principal, round_id: str, labs: list[str], now: dt.datetime | None = None
) -> dict[str, Any]:
    """A regulator enrols labs in an open round before its deadline (enrolling twice is harmless)."""
    now = now or _now()
    async with runtime.unit_of_work() as uow:
        row = await round_row(uow.session, round_id)
        if row.status == domain.RoundStatus.CLOSED:
            raise refused(domain.RoundClosed(f"round {round_id} is closed; no lab can be enrolled"))
        if now > row.deadline:
            raise Conflict(
                f"round {round_id} accepted results until {row.deadline.isoformat()}: a lab enrolled now could not submit",
                field="deadline",
            )
        new = await _enrol(uow, round_id, labs, now)
        await uow.commit()
    result = await get_round(runtime, principal, round_id)
    return {**result, "newly_enrolled": new}


async def submit_result(
    runtime: ServiceRuntime, principal: Principal, round_id: str, request: dict[str, Any], now: dt.datetime | None = None
) -> dict[str, Any]:
    """A lab submits its one result (value; optionally U and k) to a round it is enrolled in,
    before the deadline. A lab submits only for itself: the token's organisation is the lab."""
    now = now or _now()
    lab = principal.org or ""
    claimed = request.get("lab_uscc")
    if claimed and claimed != lab:
        raise naming(
            Forbidden(f"a lab submits only its own results: the token is lab {lab}'s, the result names lab {claimed}"),
            "lab_uscc", "a lab submits only for itself", f"result names lab {claimed}",
        )
    async with runtime.unit_of_work() as uow:
        row = await round_row(uow.session, round_id)
        rnd = await _domain_round(uow.session, row)
        try:
            result = rnd.submit(
                lab, request["value"], expanded_uncertainty=request.get("expanded_uncertainty"),
                coverage_factor=request.get("coverage_factor"), at=now,
            )
        except domain.ProficiencyRuleViolation as exc:
            raise refused(exc) from None
        except ValueError as exc:
            raise invalid(exc, "coverage_factor" if "coverage" in str(exc) else "expanded_uncertainty",
                           "an expanded uncertainty U comes with its coverage factor k") from None
        try:
            await uow.session.execute(
                sa.insert(db.results).values(
                    round_id=round_id, lab_uscc=lab, value=result.value,
                    expanded_uncertainty=result.expanded_uncertainty, coverage_factor=result.coverage_factor,
                    submitted_at=now,
                )
            )
            await uow.commit()
        except sa_exc.IntegrityError:  # a concurrent request of the same lab won
            raise refused(
                domain.DuplicateSubmission(f"lab {lab} has already submitted a result to round {round_id}")
            ) from None
    log.info("result submitted", round_id=round_id, lab=lab)
    return result_view(round_id, result.lab_id, result.value, result.expanded_uncertainty, result.coverage_factor, now)


async def close_round(
    runtime: ServiceRuntime, principal: Principal, round_id: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Close a round once its deadline has passed and evaluate it (ISO 13528): assigned value,
    its uncertainty, sigma_pt, every lab's scores and signal. An action signal is a lab failure;
    two in a row in the field require the field's suspension (DESIGN flow 4)."""
    now = now or _now()
    async with runtime.unit_of_work() as uow:
        row = await round_row(uow.session, round_id)
        # Closes in one field take turns (PostgreSQL; SQLite has one writer anyway): each must
        # see the outcomes the previous one recorded, or two action signals in a row go unseen.
        await uow.session.execute(
            sa.select(db.rounds.c.id).where(db.rounds.c.field == row.field).order_by(db.rounds.c.id).with_for_update()
        )
        rnd = await _domain_round(uow.session, row)
        try:
            evaluation = rnd.close(at=now)
        except domain.ProficiencyRuleViolation as exc:
            raise refused(exc) from None
        except (ValueError, ArithmeticError) as exc:
            raise invalid(exc, "results", "the round's results allow an ISO 13528 evaluation") from None
        changed = await uow.session.execute(
            sa.update(db.rounds)
            .where(db.rounds.c.id == round_id, db.rounds.c.status == domain.RoundStatus.OPEN.value)
            .values(status=domain.RoundStatus.CLOSED.value, closed_at=now, evaluation=_evaluation_json(evaluation))
        )
        if changed.rowcount != 1:
            raise refused(domain.RoundClosed(f"round {round_id} was closed concurrently"))
        if evaluation.labs:
            await uow.session.execute(
                sa.insert(db.scores),
                [
                    dict(
                        round_id=round_id, lab_uscc=p.lab_id, score_kind=p.score_kind.value, score=p.score,
                        signal=p.signal.value, zeta=p.zeta, zeta_signal=p.zeta_signal and p.zeta_signal.value,
                        en=p.en, en_signal=p.en_signal and p.en_signal.value,
                    )
                    for p in evaluation.labs
                ],
            )
        uow.emit(
            events.RoundClosedV1(
                round_id=round_id, field=row.field, measurand=row.measurand, unit=row.unit,
                assigned_value=evaluation.assigned_value, standard_uncertainty=evaluation.standard_uncertainty,
                sigma_pt=evaluation.sigma_pt, z_prime_used=evaluation.z_prime_used, participants=len(evaluation.labs),
            )
        )
        for p in sorted(evaluation.labs, key=lambda p: p.lab_id):
            uow.emit(
                events.LabScoredV1(
                    round_id=round_id, lab_uscc=p.lab_id, field=row.field, score_kind=p.score_kind.value,
                    score=p.score, signal=p.signal.value, zeta=p.zeta, en=p.en,
                )
            )
            detail = (
                f"{p.score_kind.value} = {p.score:.2f} in round {round_id} ({row.measurand}): "
                f"result {p.value:g} {row.unit}, assigned value {evaluation.assigned_value:.6g}, "
                f"sigma_pt {evaluation.sigma_pt:.6g}"
            )
            await record_outcome(
                uow, p.lab_id, row.field, domain.RoundOutcome(round_id, p.signal), now, detail
            )
        await uow.commit()
    log.info("round closed", round_id=round_id, participants=len(evaluation.labs))
    return await round_report(runtime, principal, round_id)


def _evaluation_json(evaluation: iso13528.RoundEvaluation) -> dict[str, Any]:
    robust = evaluation.robust_estimate
    return {
        "assigned_value": evaluation.assigned_value,
        "standard_uncertainty": evaluation.standard_uncertainty,
        "expanded_uncertainty": evaluation.expanded_uncertainty,
        "sigma_pt": evaluation.sigma_pt,
        "z_prime_used": evaluation.z_prime_used,
        "robust_estimate": (
            {"x_star": robust.x_star, "s_star": robust.s_star, "iterations": robust.iterations, "p": robust.p}
            if robust else None
        ),
    }


# --- rounds: queries --------------------------------------------------------------------------


async def get_round(runtime: ServiceRuntime, principal: Principal, round_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = await visible_round(session, principal, round_id)
        r = db.results
        submitted = set(
            (await session.scalars(sa.select(r.c.lab_uscc).where(r.c.round_id == round_id))).all()
        )
        view = {**round_view(row), "design": design_view(row, is_regulator(principal) or row.status == "closed")}
        if is_regulator(principal):
            enrolled = await enrolled_labs(session, round_id)
            view["enrolled_labs"] = [{"lab_uscc": lab, "submitted": lab in submitted} for lab in enrolled]
            view["results_received"] = len(submitted)
        else:
            view["submitted"] = principal.org in submitted
    return view


async def list_rounds(
    runtime: ServiceRuntime, principal: Principal, status: str | None, field: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """The regulator sees every round; a lab the rounds it is enrolled in."""
    t = db.rounds
    query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id).limit(limit).offset(offset)
    if not is_regulator(principal):
        e = db.enrolments
        query = query.where(t.c.id.in_(sa.select(e.c.round_id).where(e.c.lab_uscc == principal.org)))
    if status:
        query = query.where(t.c.status == status)
    if field:
        query = query.where(t.c.field == field)
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {"items": [round_view(r) for r in rows], "limit": limit, "offset": offset}


async def get_result(runtime: ServiceRuntime, principal: Principal, round_id: str, lab: str) -> dict[str, Any]:
    """One lab's result, with its scores once the round is closed. A lab reads only its own:
    to it another lab's result does not exist (404, which says nothing of whether it does)."""
    lab = lab.strip().upper()
    not_found = NotFound(f"no result of lab {lab} in round {round_id}", field="lab_uscc")
    if not is_regulator(principal) and lab != principal.org:
        raise not_found
    async with runtime.sessions() as session:
        await visible_round(session, principal, round_id)
        r, s = db.results, db.scores
        row = (await session.execute(sa.select(r).where(r.c.round_id == round_id, r.c.lab_uscc == lab))).first()
        if row is None:
            raise not_found
        score = (await session.execute(sa.select(s).where(s.c.round_id == round_id, s.c.lab_uscc == lab))).first()
    return result_view(round_id, lab, row.value, row.expanded_uncertainty, row.coverage_factor, row.submitted_at, score)
