"""Blind samples: registered by the regulator with a known value and tolerance, assigned to
a lab that sees only a sample to test; the lab's report passes or fails (DESIGN flow 4)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
import structlog

from conformity_shared.auth import Principal
from conformity_shared.errors import Conflict, NotFound
from conformity_shared.runtime import ServiceRuntime

from proficiency import db, domain
from proficiency.domain import iso13528
from proficiency.service.consequences import record_outcome
from proficiency.service.refusals import invalid, naming
from proficiency.service.views import iso

log = structlog.get_logger("proficiency")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sample_for_regulator(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "field": row.field, "lab_uscc": row.lab_uscc, "measurand": row.measurand, "unit": row.unit,
        "description": row.description, "known_value": row.known_value, "tolerance": row.tolerance,
        "registered_at": row.registered_at.isoformat(), "status": row.status,
        "reported_value": row.reported_value, "reported_expanded_uncertainty": row.reported_expanded_uncertainty,
        "reported_coverage_factor": row.reported_coverage_factor, "reported_at": iso(row.reported_at),
        "deviation": row.deviation, "passed": row.passed,
    }


def _sample_for_lab(row: Any) -> dict[str, Any]:
    """What the lab is told: a sample to test, as any other. Not the known value, not the
    tolerance, not that it is a check, not the verdict."""
    return {
        "id": row.id, "field": row.field, "measurand": row.measurand, "unit": row.unit,
        "description": row.description, "assigned_at": row.registered_at.isoformat(), "status": row.status,
        "reported_value": row.reported_value, "reported_at": iso(row.reported_at),
    }


async def register_blind_sample(
    runtime: ServiceRuntime, principal: Principal, request: dict[str, Any], now: dt.datetime | None = None
) -> dict[str, Any]:
    """The regulator registers a sample with a known value and tolerance and assigns it to a lab."""
    now = now or _now()
    sample_id = str(uuid.uuid4())
    try:
        domain.BlindSample(sample_id, request["known_value"], request["tolerance"])
    except ValueError as exc:
        raise invalid(exc, "tolerance" if "tolerance" in str(exc) else "known_value", "a valid blind sample") from None
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            sa.insert(db.blind_samples).values(
                id=sample_id, field=request["field"], lab_uscc=request["lab_uscc"], measurand=request["measurand"],
                unit=request["unit"], description=request.get("description"), known_value=request["known_value"],
                tolerance=request["tolerance"], registered_at=now, registered_by=principal.actor, status="assigned",
            )
        )
        await uow.commit()
    log.info("blind sample registered", sample_id=sample_id, field=request["field"])
    return await get_blind_sample(runtime, sample_id)


async def get_blind_sample(runtime: ServiceRuntime, sample_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.blind_samples).where(db.blind_samples.c.id == sample_id))).first()
    if row is None:
        raise NotFound(f"blind sample {sample_id} not found", field="sample_id")
    return _sample_for_regulator(row)


async def list_blind_samples(runtime: ServiceRuntime, lab: str | None, limit: int, offset: int) -> dict[str, Any]:
    b = db.blind_samples
    query = sa.select(b).order_by(b.c.registered_at.desc(), b.c.id).limit(limit).offset(offset)
    if lab:
        query = query.where(b.c.lab_uscc == lab.strip().upper())
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {"items": [_sample_for_regulator(r) for r in rows], "limit": limit, "offset": offset}


async def _own_sample(session: Any, principal: Principal, sample_id: str) -> Any:
    b = db.blind_samples
    row = (await session.execute(sa.select(b).where(b.c.id == sample_id, b.c.lab_uscc == principal.org))).first()
    if row is None:  # another lab's sample does not exist for this one
        raise NotFound(f"sample {sample_id} not found", field="sample_id")
    return row


async def samples_for_lab(runtime: ServiceRuntime, principal: Principal) -> dict[str, Any]:
    b = db.blind_samples
    async with runtime.sessions() as session:
        rows = (
            await session.execute(sa.select(b).where(b.c.lab_uscc == principal.org).order_by(b.c.registered_at, b.c.id))
        ).all()
    return {"items": [_sample_for_lab(r) for r in rows]}


async def sample_for_lab(runtime: ServiceRuntime, principal: Principal, sample_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return _sample_for_lab(await _own_sample(session, principal, sample_id))


async def report_sample(
    runtime: ServiceRuntime, principal: Principal, sample_id: str, request: dict[str, Any], now: dt.datetime | None = None
) -> dict[str, Any]:
    """The lab reports its result on a sample, once. If it is a blind sample out of tolerance
    the lab has failed, and one failed blind sample requires the field's suspension."""
    now = now or _now()
    b = db.blind_samples
    async with runtime.unit_of_work() as uow:
        row = await _own_sample(uow.session, principal, sample_id)
        if row.status != "assigned":
            raise naming(
                Conflict(f"sample {sample_id} was reported at {row.reported_at.isoformat()}; a sample is reported once"),
                "sample_id", "a sample is reported once", f"reported at {row.reported_at.isoformat()}",
            )
        try:
            iso13528.ParticipantResult(
                principal.org or "", request["value"], request.get("expanded_uncertainty"), request.get("coverage_factor")
            )
        except ValueError as exc:
            raise invalid(exc, "coverage_factor" if "coverage" in str(exc) else "expanded_uncertainty",
                           "an expanded uncertainty U comes with its coverage factor k") from None
        verdict = domain.BlindSample(row.id, row.known_value, row.tolerance).evaluate(request["value"])
        changed = await uow.session.execute(
            sa.update(b).where(b.c.id == sample_id, b.c.status == "assigned").values(
                status="reported", reported_value=request["value"],
                reported_expanded_uncertainty=request.get("expanded_uncertainty"),
                reported_coverage_factor=request.get("coverage_factor"), reported_at=now,
                deviation=verdict.deviation, passed=verdict.passed,
            )
        )
        if changed.rowcount != 1:
            raise Conflict(f"sample {sample_id} was reported concurrently; a sample is reported once", field="sample_id")
        detail = (
            f"blind sample {sample_id} ({row.measurand}): reported {verdict.reported_value:g} {row.unit}, "
            f"known value {verdict.known_value:g} ± {verdict.tolerance:g}, deviation {verdict.deviation:+g}"
        )
        await record_outcome(
            uow, row.lab_uscc, row.field, domain.BlindSampleOutcome(row.id, verdict.passed), now, detail
        )
        await uow.commit()
    log.info("sample reported", sample_id=sample_id, passed=verdict.passed)
    return await sample_for_lab(runtime, principal, sample_id)
