"""Rounds (ISO/IEC 17043): creation, enrolment, one result per lab before the deadline, and
closing, which evaluates the round by ISO 13528 and records each lab's outcome."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from sqlalchemy import exc as sa_exc

from conformity_shared import events
from conformity_shared.auth import Principal
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from proficiency import commands, db, domain
from proficiency.service import views
from proficiency.service.outcomes import record_outcome
from proficiency.service.reports import round_report

log = structlog.get_logger("proficiency")


# --- use cases -----------------------------------------------------------------------------


async def create_round(runtime: ServiceRuntime, principal: Principal, command: commands.CreateRound) -> dict[str, Any]:
    """A regulator opens a round (ISO/IEC 17043) of one measurand in one test field."""
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        rnd = domain.ProficiencyRound.open(
            str(uuid.uuid4()), field=command.field, measurand=command.measurand, unit=command.unit,
            deadline=command.deadline, design=command.design(), labs=command.labs, at=now,
        )
        await db.add_round(uow.session, rnd, created_by=principal.actor, at=now)
        await uow.commit()
    log.info("round created", round_id=rnd.round_id, field=rnd.field)
    return await get_round(runtime, principal, rnd.round_id)


async def enrol(runtime: ServiceRuntime, principal: Principal, command: commands.EnrolLabs) -> dict[str, Any]:
    """A regulator enrols labs in an open round before its deadline (enrolling twice is harmless)."""
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        rnd = await db.load_round(uow.session, command.round_id)
        new = rnd.enrol(command.labs, at=now)
        await db.add_enrolments(uow.session, rnd.round_id, new, now)
        await uow.commit()
    result = await get_round(runtime, principal, command.round_id)
    return {**result, "newly_enrolled": new}


async def submit_result(runtime: ServiceRuntime, principal: Principal, command: commands.SubmitResult) -> dict[str, Any]:
    """A lab submits its one result (value; optionally U and k) to a round it is enrolled in,
    before the deadline. A lab submits only for itself: the token's organisation is the lab."""
    lab = principal.org or ""
    if command.lab_uscc and command.lab_uscc != lab:
        raise domain.ResultForAnotherLab(lab, command.lab_uscc)
    measured = command.measurement
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        rnd = await db.load_round(uow.session, command.round_id)
        result = rnd.submit(
            lab, measured.value, expanded_uncertainty=measured.expanded_uncertainty,
            coverage_factor=measured.coverage_factor, at=now,
        )
        try:
            await db.add_result(uow.session, rnd.round_id, result, now)
            await uow.commit()
        except sa_exc.IntegrityError:  # a concurrent request of the same lab won
            raise domain.DuplicateSubmission(
                f"lab {lab} has already submitted a result to round {rnd.round_id}"
            ) from None
    log.info("result submitted", round_id=rnd.round_id, lab=lab)
    return views.result_view(rnd.round_id, lab, result.value, result.expanded_uncertainty, result.coverage_factor, now)


async def close_round(runtime: ServiceRuntime, principal: Principal, round_id: str) -> dict[str, Any]:
    """Close a round once its deadline has passed and evaluate it (ISO 13528): assigned value,
    its uncertainty, sigma_pt, every lab's scores and signal. An action signal is a lab failure;
    two in a row in the field require the field's suspension (DESIGN flow 4)."""
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        rnd = await db.load_round(uow.session, round_id, field_turn=True)
        evaluation = rnd.close(at=now)
        if not await db.save_closed_round(uow.session, rnd, now):
            raise domain.RoundClosed(f"round {round_id} was closed concurrently")
        await _publish_evaluation(uow, rnd, evaluation, now)
        await uow.commit()
    log.info("round closed", round_id=round_id, participants=len(evaluation.labs))
    return await round_report(runtime, principal, round_id)


async def close_round_with_chosen_values(
    runtime: ServiceRuntime, principal: Principal, command: commands.CloseRoundWithChosenValues
) -> dict[str, Any]:
    """The regulator's way out of a round its design cannot evaluate (too few results for
    Algorithm A, or s* = 0): close it with a reference value and/or a fixed sigma_pt chosen now,
    in place of what the results could not give. The choice, its reason and who made it are kept
    and published; the scores count as any round's (DESIGN flow 4)."""
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        rnd = await db.load_round(uow.session, command.round_id, field_turn=True)
        evaluation = rnd.close_with_chosen_values(
            command.chosen_assigned_value(), command.chosen_sigma_pt(), reason=command.reason, by=principal.actor,
            at=now,
        )
        if not await db.save_closed_round(uow.session, rnd, now):
            raise domain.RoundClosed(f"round {rnd.round_id} was closed or cancelled concurrently")
        await _publish_evaluation(uow, rnd, evaluation, now)
        await uow.commit()
    log.info("round closed with chosen values", round_id=rnd.round_id, participants=len(evaluation.labs))
    return await round_report(runtime, principal, rnd.round_id)


async def cancel_round(runtime: ServiceRuntime, principal: Principal, command: commands.CancelRound) -> dict[str, Any]:
    """The regulator cancels an open round, with its reason: no scores, no lab failures; the
    cancellation is kept with who made it and published (RoundCancelledV1)."""
    async with runtime.unit_of_work() as uow:
        rnd = await db.load_round(uow.session, command.round_id)
        cancellation = rnd.cancel(command.reason, by=principal.actor, at=uow.clock.now())
        if not await db.save_cancelled_round(uow.session, rnd):
            raise domain.RoundClosed(f"round {rnd.round_id} was closed or cancelled concurrently")
        uow.emit(
            events.RoundCancelledV1(
                round_id=rnd.round_id, field=rnd.field, measurand=rnd.measurand, unit=rnd.unit,
                reason=cancellation.reason, cancelled_by=cancellation.by, results_received=len(rnd.results),
            )
        )
        await uow.commit()
    log.info("round cancelled", round_id=rnd.round_id)
    return await get_round(runtime, principal, rnd.round_id)


async def _publish_evaluation(
    uow: UnitOfWork, rnd: domain.ProficiencyRound, evaluation: domain.RoundEvaluation, at: dt.datetime
) -> None:
    """RoundClosedV1, then for each lab (by USCC) its LabScoredV1 and the outcome its signal
    adds to its history in the field."""
    uow.emit(round_closed(rnd, evaluation))
    for p in sorted(evaluation.labs, key=lambda p: p.lab_id):
        uow.emit(
            events.LabScoredV1(
                round_id=rnd.round_id, lab_uscc=p.lab_id, field=rnd.field, score_kind=p.score_kind.value,
                score=p.score, signal=p.signal.value, zeta=p.zeta, en=p.en,
            )
        )
        outcome = domain.RoundOutcome(rnd.round_id, p.signal)
        await record_outcome(uow, p.lab_id, rnd.field, outcome, at, _score_detail(rnd, evaluation, p))


def round_closed(rnd: domain.ProficiencyRound, evaluation: domain.RoundEvaluation) -> events.RoundClosedV1:
    """The closed round's event: its numbers, and how x_pt and sigma_pt were obtained."""
    decision, robust = rnd.closing_decision, evaluation.robust_estimate
    return events.RoundClosedV1(
        round_id=rnd.round_id, field=rnd.field, measurand=rnd.measurand, unit=rnd.unit,
        assigned_value=evaluation.assigned_value, standard_uncertainty=evaluation.standard_uncertainty,
        sigma_pt=evaluation.sigma_pt, z_prime_used=evaluation.z_prime_used, participants=len(evaluation.labs),
        assigned_value_method=evaluation.assigned_value_method.value, sigma_pt_method=evaluation.sigma_pt_method.value,
        algorithm_a_stopping=robust.stopping.value if robust else None,
        chosen_at_closing=list(decision.chosen) if decision else [],
        closing_reason=decision.reason if decision else None, decided_by=decision.by if decision else None,
    )


def _score_detail(rnd: domain.ProficiencyRound, evaluation: domain.RoundEvaluation, p: domain.LabPerformance) -> str:
    return (
        f"{p.score_kind.value} = {p.score:.2f} in round {rnd.round_id} ({rnd.measurand}): "
        f"result {p.value:g} {rnd.unit}, assigned value {evaluation.assigned_value:.6g}, "
        f"sigma_pt {evaluation.sigma_pt:.6g}"
    )


# --- queries -------------------------------------------------------------------------------


async def get_round(runtime: ServiceRuntime, principal: Principal, round_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = await views.visible_round(session, principal, round_id)
        submitted = await db.submitted_labs(session, round_id)
        enrolled = await db.enrolled_labs(session, round_id) if views.is_regulator(principal) else []
    return views.round_detail_view(row, principal, submitted, enrolled)


async def list_rounds(
    runtime: ServiceRuntime, principal: Principal, status: domain.RoundStatus | None, field: str | None,
    limit: int, offset: int,
) -> dict[str, Any]:
    """The regulator sees every round; a lab the rounds it is enrolled in."""
    async with runtime.sessions() as session:
        rows = await db.round_rows(
            session, every_round=views.is_regulator(principal), lab=principal.org, status=status, field=field,
            limit=limit, offset=offset,
        )
    return {"items": [views.round_view(r) for r in rows], "limit": limit, "offset": offset}


async def get_result(runtime: ServiceRuntime, principal: Principal, round_id: str, lab: str) -> dict[str, Any]:
    """One lab's result, with its scores once the round is closed. A lab reads only its own:
    to it another lab's result does not exist (404, which says nothing of whether it does)."""
    lab = lab.strip().upper()
    not_found = NotFound(f"no result of lab {lab} in round {round_id}", field="lab_uscc")
    if not views.is_regulator(principal) and lab != principal.org:
        raise not_found
    async with runtime.sessions() as session:
        await views.visible_round(session, principal, round_id)
        row, score = await db.result_and_score(session, round_id, lab)
    if row is None:
        raise not_found
    return views.result_view(
        round_id, lab, row.value, row.expanded_uncertainty, row.coverage_factor, row.submitted_at, score
    )
