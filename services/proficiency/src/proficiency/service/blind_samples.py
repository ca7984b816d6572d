"""Blind samples: registered by the regulator with a known value and tolerance, assigned to
a lab that sees only a sample to test; the lab's report passes or fails (DESIGN flow 4)."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from conformity_shared.auth import Principal
from conformity_shared.errors import Conflict
from conformity_shared.runtime import ServiceRuntime

from proficiency import commands, db, domain
from proficiency.service import views
from proficiency.service.outcomes import record_outcome

log = structlog.get_logger("proficiency")


async def register_blind_sample(
    runtime: ServiceRuntime, principal: Principal, command: commands.RegisterBlindSample
) -> dict[str, Any]:
    """The regulator registers a sample with a known value and tolerance and assigns it to a lab."""
    async with runtime.unit_of_work() as uow:
        sample = domain.BlindSample(str(uuid.uuid4()), command.known_value, command.tolerance)
        await db.add_blind_sample(
            uow.session, sample, field=command.field, lab_uscc=command.lab_uscc, measurand=command.measurand,
            unit=command.unit, description=command.description, registered_by=principal.actor,
            at=uow.clock.now(),
        )
        await uow.commit()
    log.info("blind sample registered", sample_id=sample.sample_id, field=command.field)
    return await get_blind_sample(runtime, sample.sample_id)


async def report_sample(runtime: ServiceRuntime, principal: Principal, command: commands.ReportSample) -> dict[str, Any]:
    """The lab reports its result on a sample, once. If it is a blind sample out of tolerance
    the lab has failed, and one failed blind sample requires the field's suspension."""
    measured = command.measurement
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        row = await db.lab_sample_row(uow.session, principal.org, command.sample_id)
        sample = db.blind_sample_of(row)
        verdict = sample.report_result(
            row.lab_uscc, measured.value, expanded_uncertainty=measured.expanded_uncertainty,
            coverage_factor=measured.coverage_factor, at=now,
        )
        if not await db.save_sample_report(uow.session, sample):
            raise Conflict(
                f"sample {sample.sample_id} was reported concurrently; a sample is reported once", field="sample_id"
            )
        outcome = domain.BlindSampleOutcome(sample.sample_id, verdict.passed)
        await record_outcome(uow, row.lab_uscc, row.field, outcome, now, _verdict_detail(row, verdict))
        await uow.commit()
    log.info("sample reported", sample_id=sample.sample_id, passed=verdict.passed)
    return await sample_for_lab(runtime, principal, command.sample_id)


def _verdict_detail(row: Any, verdict: domain.BlindSampleEvaluation) -> str:
    return (
        f"blind sample {verdict.sample_id} ({row.measurand}): reported {verdict.reported_value:g} {row.unit}, "
        f"known value {verdict.known_value:g} ± {verdict.tolerance:g}, deviation {verdict.deviation:+g}"
    )


# --- queries -------------------------------------------------------------------------------


async def get_blind_sample(runtime: ServiceRuntime, sample_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = await db.blind_sample_row(session, sample_id)
    return views.regulator_sample_view(row)


async def list_blind_samples(runtime: ServiceRuntime, lab: str | None, limit: int, offset: int) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = await db.blind_sample_rows(session, lab.strip().upper() if lab else None, limit, offset)
    return {"items": [views.regulator_sample_view(r) for r in rows], "limit": limit, "offset": offset}


async def samples_for_lab(runtime: ServiceRuntime, principal: Principal) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = await db.lab_sample_rows(session, principal.org)
    return {"items": [views.lab_sample_view(r) for r in rows]}


async def sample_for_lab(runtime: ServiceRuntime, principal: Principal, sample_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return views.lab_sample_view(await db.lab_sample_row(session, principal.org, sample_id))
