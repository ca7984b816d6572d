"""Use cases of supervision: directories from events, campaigns and their verifiable
draws, inspections and their results, credit classes, public results. Rules live in
domain.py and draw.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import structlog

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.db import upsertable_insert
from conformity_shared.errors import Conflict, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from supervision import db, domain
from supervision.domain import draw

log = structlog.get_logger("supervision")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- directory of targets, from events ---------------------------------------------------


async def _upsert_target(uow: UnitOfWork, uscc: str, kind: str, name: str, *, overwrite: bool = True) -> None:
    """List the organisation in the directory, or update its kind and name (`overwrite`)."""
    now = _now()
    insert = upsertable_insert(uow.session, db.targets).values(
        uscc=uscc, kind=kind, name=name, credit_class="A", clean_since=now, updated_at=now
    )
    if overwrite:
        statement = insert.on_conflict_do_update(index_elements=["uscc"], set_={"kind": kind, "name": name, "updated_at": now})
    else:
        statement = insert.on_conflict_do_nothing(index_elements=["uscc"])
    await uow.session.execute(statement)


async def record_approved_organisation(uow: UnitOfWork, event: events.ApprovalGrantedV1) -> None:
    await _upsert_target(uow, event.organisation_uscc, event.kind.value, event.organisation_name)


async def record_certified_enterprise(uow: UnitOfWork, event: events.CertificateIssuedV1) -> None:
    known = await uow.session.scalar(sa.select(db.targets.c.kind).where(db.targets.c.uscc == event.holder_uscc))
    if known is None:
        await _upsert_target(uow, event.holder_uscc, events.OrganisationKind.ENTERPRISE.value, event.holder_name)
    await uow.session.execute(sa.delete(db.target_certificates).where(
        db.target_certificates.c.certificate_number == event.certificate_number))
    await uow.session.execute(
        sa.insert(db.target_certificates).values(
            certificate_number=event.certificate_number, holder_uscc=event.holder_uscc, status="valid"
        )
    )


_STATUS = {
    events.CertificateSuspendedV1: "suspended",
    events.CertificateReinstatedV1: "valid",
    events.CertificateWithdrawnV1: "withdrawn",
    events.CertificateCancelledV1: "cancelled",
    events.CertificateExpiredV1: "expired",
}


async def record_certificate_status(uow: UnitOfWork, event: events.CertificateEvent) -> None:
    await uow.session.execute(
        sa.update(db.target_certificates)
        .where(db.target_certificates.c.certificate_number == event.certificate_number)
        .values(status=_STATUS[type(event)])
    )


# --- credit classes ------------------------------------------------------------------------


def credit_policy(runtime_settings: Any) -> domain.CreditPolicy:
    return domain.CreditPolicy(clean_period=dt.timedelta(days=runtime_settings.credit_clean_days))


async def _standing(uow: UnitOfWork, uscc: str) -> domain.CreditStanding:
    # A failure may arrive before the organisation's own event; list it so the failure counts.
    await _upsert_target(uow, uscc, "unknown", uscc, overwrite=False)
    row = (await uow.session.execute(sa.select(db.targets).where(db.targets.c.uscc == uscc).with_for_update())).one()
    return domain.CreditStanding(uscc, events.CreditClass(row.credit_class), row.clean_since)


async def _apply_failure(uow: UnitOfWork, failure: domain.Failure, uscc: str, policy: domain.CreditPolicy) -> None:
    standing, change = (await _standing(uow, uscc)).record_failure(failure, policy)
    await _save_standing(uow, standing, change)


async def _save_standing(uow: UnitOfWork, standing: domain.CreditStanding, change: domain.CreditChange | None) -> None:
    await uow.session.execute(
        sa.update(db.targets).where(db.targets.c.uscc == standing.organisation).values(
            credit_class=standing.credit_class.value, clean_since=standing.clean_since, updated_at=_now()
        )
    )
    if change is None:
        return
    cause = change.cause + (f" ({change.reference})" if change.reference else "")
    await uow.session.execute(
        sa.insert(db.credit_changes).values(
            organisation_uscc=change.organisation, previous=change.previous.value, current=change.current.value,
            cause=cause, cause_event_id=uow.cause_event_id, at=change.at,
        )
    )
    uow.emit(
        events.CreditClassChangedV1(
            organisation_uscc=change.organisation, previous=change.previous, current=change.current, cause=cause
        )
    )


def lower_credit_for_breached_commitment(policy: domain.CreditPolicy):  # noqa: ANN201
    async def handle(uow: UnitOfWork, event: events.CommitmentBreachedV1) -> None:
        failure = domain.Failure(domain.FailureKind.COMMITMENT_BREACHED, event.verification_id, _now())
        await _apply_failure(uow, failure, event.organisation_uscc, policy)

    return handle


def lower_credit_for_lab_failure(policy: domain.CreditPolicy):  # noqa: ANN201
    async def handle(uow: UnitOfWork, event: events.LabFailureV1) -> None:
        failure = domain.Failure(domain.FailureKind.LAB_FAILURE, f"{event.field}:{event.reference_id}", _now())
        await _apply_failure(uow, failure, event.lab_uscc, policy)

    return handle


async def restore_clean_credit(runtime: ServiceRuntime, now: dt.datetime | None = None) -> int:
    """Raise by one class every organisation whose clean period has run (never above A)."""
    now = now or _now()
    policy = credit_policy(runtime.settings)
    restored = 0
    async with runtime.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                sa.select(db.targets.c.uscc, db.targets.c.credit_class, db.targets.c.clean_since)
                .where(db.targets.c.credit_class != "A")
                .where(db.targets.c.clean_since <= now - policy.clean_period)
            )
        ).all()
        for row in rows:
            standing = domain.CreditStanding(row.uscc, events.CreditClass(row.credit_class), row.clean_since)
            while True:
                standing, change = standing.restore_if_clean(now, policy)
                if change is None:
                    break
                await _save_standing(uow, standing, change)
                restored += 1
        await uow.commit()
    return restored


# --- inspectors ----------------------------------------------------------------------------


async def register_inspector(runtime: ServiceRuntime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        if await uow.session.scalar(sa.select(db.inspectors.c.id).where(db.inspectors.c.id == body["id"])):
            raise Conflict(f"inspector {body['id']} is already registered", field="id")
        await uow.session.execute(sa.insert(db.inspectors).values(**body, registered_at=_now()))
        await uow.commit()
    return body


async def list_inspectors(runtime: ServiceRuntime) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = (await session.execute(sa.select(db.inspectors).order_by(db.inspectors.c.id))).mappings().all()
    return {"items": [{k: v for k, v in r.items() if k != "registered_at"} for r in rows]}


# --- inspections -----------------------------------------------------------------------------


async def order_inspection(runtime: ServiceRuntime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        await _check_inspectors(uow, body["inspector_ids"], body["target_uscc"])
        inspection_id = str(uuid.uuid4())
        if body["kind"] == domain.InspectionKind.RE_INSPECTION:
            spot_check = await _load_inspection(uow, body["spot_check_id"], field="spot_check_id")
            inspection = domain.Inspection.re_inspection_of(
                spot_check, inspection_id, body["inspector_ids"], target_id=body["target_uscc"]
            )
        else:
            inspection = domain.Inspection(
                id=inspection_id, kind=body["kind"], target_id=body["target_uscc"], target_kind=body["target_kind"],
                inspector_ids=frozenset(body["inspector_ids"]),
            )
        await _create_inspection(uow, inspection, campaign_id=None)
        await uow.commit()
    return await get_inspection(runtime, principal, inspection_id)


async def _check_inspectors(uow: UnitOfWork, inspector_ids: list[str], target: str) -> None:
    rows = (await uow.session.execute(sa.select(db.inspectors).where(db.inspectors.c.id.in_(inspector_ids)))).all()
    registered = {r.id: draw.Inspector(r.id, r.name, r.organisation, r.region, r.active) for r in rows}
    domain.check_assignable(target, inspector_ids, registered)


async def _create_inspection(uow: UnitOfWork, inspection: domain.Inspection, campaign_id: str | None) -> None:
    await _create_inspections(uow, [inspection], campaign_id)


async def _create_inspections(
    uow: UnitOfWork, inspections: Sequence[domain.Inspection], campaign_id: str | None
) -> None:
    """Insert inspections and their assignments in two bulk statements (a draw may create many)."""
    if not inspections:
        return
    now = _now()
    await uow.session.execute(
        sa.insert(db.inspections),
        [
            {
                "id": inspection.id, "campaign_id": campaign_id, "target_uscc": inspection.target_id,
                "target_kind": inspection.target_kind.value, "kind": inspection.kind.value,
                "spot_check_id": inspection.spot_check_id,
                "certificates_to_verify": list(inspection.certificates_to_verify), "status": "assigned",
                "samples": [], "created_at": now,
            }
            for inspection in inspections
        ],
    )
    await uow.session.execute(
        sa.insert(db.inspection_assignments),
        [
            {"inspection_id": inspection.id, "inspector_id": i}
            for inspection in inspections
            for i in sorted(inspection.inspector_ids)
        ],
    )


async def _assigned(session: Any, inspection_id: str) -> list[str]:
    return list(
        (
            await session.execute(
                sa.select(db.inspection_assignments.c.inspector_id)
                .where(db.inspection_assignments.c.inspection_id == inspection_id)
                .order_by(db.inspection_assignments.c.inspector_id)
            )
        ).scalars()
    )


def _to_domain(row: Any, assigned: list[str]) -> domain.Inspection:
    result = None
    if row.verdict:
        result = domain.InspectionResult(
            inspector_id=row.recorded_by, verdict=domain.Verdict(row.verdict), findings=row.findings or "",
            recorded_at=row.completed_at,
            samples=tuple(domain.SampleResult(s["certificate_number"], s["passed"], s.get("finding") or "") for s in row.samples),
        )
    return domain.Inspection(
        id=row.id, kind=row.kind, target_id=row.target_uscc, target_kind=row.target_kind,
        inspector_ids=frozenset(assigned), result=result, spot_check_id=row.spot_check_id,
        certificates_to_verify=tuple(row.certificates_to_verify), status=row.status,
    )


async def _load_inspection(uow: UnitOfWork, inspection_id: str, field: str = "inspection_id") -> domain.Inspection:
    row = (await uow.session.execute(sa.select(db.inspections).where(db.inspections.c.id == inspection_id))).first()
    if row is None:
        raise NotFound(f"inspection {inspection_id} not found", field=field)
    return _to_domain(row, await _assigned(uow.session, inspection_id))


def _inspection_view(row: Any, assigned: list[str]) -> dict[str, Any]:
    return {
        "id": row.id, "campaign_id": row.campaign_id, "target_uscc": row.target_uscc, "target_kind": row.target_kind,
        "kind": row.kind, "spot_check_id": row.spot_check_id, "certificates_to_verify": row.certificates_to_verify,
        "status": row.status, "verdict": row.verdict, "findings": row.findings, "samples": row.samples,
        "inspectors": assigned, "created_at": row.created_at.isoformat(),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
    }


async def get_inspection(runtime: ServiceRuntime, principal: Principal, inspection_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.inspections).where(db.inspections.c.id == inspection_id))).first()
        assigned = await _assigned(session, inspection_id) if row else []
        if row is None or (principal.role is Role.INSPECTOR and principal.inspector_id not in assigned):
            raise NotFound(f"inspection {inspection_id} not found", field="inspection_id")
        view = _inspection_view(row, assigned)
        if row.target_kind == events.OrganisationKind.ENTERPRISE.value:
            # What the inspector may sample: the holder's certificates as the directory knows them.
            c = db.target_certificates
            certificates = (
                await session.execute(
                    sa.select(c.c.certificate_number, c.c.status)
                    .where(c.c.holder_uscc == row.target_uscc)
                    .order_by(c.c.certificate_number)
                )
            ).all()
            view["holder_certificates"] = [{"number": n, "status": st} for n, st in certificates]
    return view


async def list_inspections(
    runtime: ServiceRuntime,
    principal: Principal,
    campaign_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """Inspections, newest first; an inspector sees only those assigned to them."""
    i, a = db.inspections, db.inspection_assignments
    query = sa.select(i).order_by(i.c.created_at.desc(), i.c.id).limit(limit).offset(offset)
    if principal.role is Role.INSPECTOR:
        query = query.where(
            i.c.id.in_(sa.select(a.c.inspection_id).where(a.c.inspector_id == principal.inspector_id))
        )
    if campaign_id:
        query = query.where(i.c.campaign_id == campaign_id)
    if status:
        query = query.where(i.c.status == status)
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
        assigned: dict[str, list[str]] = {r.id: [] for r in rows}
        if rows:
            pairs = await session.execute(
                sa.select(a.c.inspection_id, a.c.inspector_id)
                .where(a.c.inspection_id.in_(list(assigned)))
                .order_by(a.c.inspector_id)
            )
            for inspection_id, inspector_id in pairs:
                assigned[inspection_id].append(inspector_id)
    return {"items": [_inspection_view(r, assigned[r.id]) for r in rows]}


async def record_result(
    runtime: ServiceRuntime, principal: Principal, inspection_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with runtime.unit_of_work() as uow:
        inspection = await _load_inspection(uow, inspection_id)
        at = _now()
        samples = [domain.SampleResult(s["certificate_number"], s["passed"], s.get("finding") or "") for s in body["samples"]]
        recorded = inspection.record(principal.inspector_id or "?", body["verdict"], body["findings"], samples, at)
        result = recorded.inspection.result
        changed = await uow.session.execute(
            sa.update(db.inspections)
            .where(db.inspections.c.id == inspection_id)
            .where(db.inspections.c.status == "assigned")
            .values(
                status="completed", verdict=result.verdict.value, findings=result.findings,
                samples=[{"certificate_number": s.certificate_number, "passed": s.passed, "finding": s.finding} for s in result.samples],
                completed_at=at, recorded_by=principal.inspector_id,
            )
        )
        if changed.rowcount != 1:
            raise domain.ResultAlreadyRecorded(inspection_id)
        for fact in recorded.consequences:
            uow.emit(_event_for(fact))
        if recorded.credit_failure is not None:
            await _apply_failure(uow, recorded.credit_failure, inspection.target_id, credit_policy(runtime.settings))
        await uow.commit()
    return await get_inspection(runtime, principal, inspection_id)


def _event_for(fact: domain.Consequence) -> events.Event:
    match fact:
        case domain.SpotCheckFailed():
            return events.SpotCheckFailedV1(
                inspection_id=fact.inspection_id, holder_uscc=fact.holder_id,
                certificate_numbers=list(fact.certificate_numbers), findings=fact.findings,
            )
        case domain.RectificationVerified():
            return events.RectificationVerifiedV1(
                inspection_id=fact.inspection_id, spot_check_id=fact.spot_check_id, holder_uscc=fact.holder_id,
                certificate_numbers=list(fact.certificate_numbers),
            )
        case domain.InspectionFailed():
            return events.InspectionFailedV1(
                inspection_id=fact.inspection_id, target_uscc=fact.target_id, target_kind=fact.target_kind,
                findings=fact.findings,
            )
    raise AssertionError(f"no event for {fact!r}")


# --- campaigns: the "double random" draw ------------------------------------------------------

# Which inspection a drawn target gets: organisations are inspected, enterprises spot-checked.
_INSPECTION_FOR = {
    events.OrganisationKind.CERTIFICATION_BODY: domain.InspectionKind.ORGANISATION_INSPECTION,
    events.OrganisationKind.TESTING_LAB: domain.InspectionKind.ORGANISATION_INSPECTION,
    events.OrganisationKind.ENTERPRISE: domain.InspectionKind.PRODUCT_SPOT_CHECK,
}
_KIND = {k.value: k for k in events.OrganisationKind}
_CLASS = {c.value: c for c in events.CreditClass}


def _parameters(row: Any) -> draw.CampaignParameters:
    return draw.CampaignParameters(
        kinds=frozenset(row.target_kinds), ratios=dict(row.ratios), inspectors_per_target=row.inspectors_per_target
    )


async def create_campaign(runtime: ServiceRuntime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """A regulator opens a campaign: target kinds, a ratio per credit class, N >= 2 inspectors, a seed."""
    parameters = draw.CampaignParameters(
        kinds=frozenset(body["target_kinds"]),
        ratios=body["ratios"],
        inspectors_per_target=body["inspectors_per_target"],
    )
    if not body["seed"].strip():
        raise draw.InvalidCampaign("the seed must not be blank: the draw is a function of it", "seed")
    campaign_id = str(uuid.uuid4())
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            sa.insert(db.campaigns).values(
                id=campaign_id, name=body["name"], target_kinds=sorted(k.value for k in parameters.kinds),
                ratios={c.value: format(r.normalize(), "f") for c, r in parameters.ratios.items()},
                inspectors_per_target=parameters.inspectors_per_target, seed=body["seed"], status="created",
                created_at=_now(),
            )
        )
        await uow.commit()
    log.info("campaign created", campaign_id=campaign_id, actor=principal.actor)
    return await get_campaign(runtime, campaign_id)


async def _directory_snapshot_inputs(
    session: Any,
) -> tuple[list[draw.Target], list[draw.Inspector], dict[str, tuple[str, ...]]]:
    """The directories as the draw sees them, one query each (a draw reads every target)."""
    t = db.targets
    # Organisations listed only because a failure arrived before their own event have no
    # known kind yet; they cannot be drawn until that event arrives.
    target_rows = await session.execute(
        sa.select(t.c.uscc, t.c.kind, t.c.name, t.c.credit_class).where(t.c.kind.in_(list(_KIND)))
    )
    targets = [draw.Target(uscc, _KIND[kind], name, _CLASS[cls]) for uscc, kind, name, cls in target_rows]
    i = db.inspectors
    inspector_rows = await session.execute(sa.select(i.c.id, i.c.name, i.c.organisation, i.c.region, i.c.active))
    inspectors = [draw.Inspector(*row) for row in inspector_rows]
    previous = await session.scalar(
        sa.select(db.campaigns.c.result)
        .where(db.campaigns.c.status == "drawn")
        .order_by(db.campaigns.c.drawn_at.desc(), db.campaigns.c.id)
        .limit(1)
    )
    assignments = {e["id"]: tuple(e["inspectors"]) for e in previous["targets"]} if previous else {}
    return targets, inspectors, assignments


def _snapshot_and_draw(
    seed: str,
    targets: list[draw.Target],
    inspectors: list[draw.Inspector],
    previous: dict[str, tuple[str, ...]],
    parameters: draw.CampaignParameters,
) -> tuple[bytes, str, draw.DrawResult]:
    snapshot = draw.Snapshot(tuple(targets), tuple(inspectors), previous, parameters)
    result = draw.draw(seed, snapshot)
    return snapshot.canonical_bytes, snapshot.hash, result


async def draw_campaign(runtime: ServiceRuntime, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """Draw the campaign from the current directories and open one inspection per drawn target.

    The snapshot bytes, their hash and the result are stored with the inspections in one
    transaction; InsufficientInspectors leaves the campaign undrawn (no partial draw).
    """
    c = db.campaigns
    async with runtime.unit_of_work() as uow:
        row = (await uow.session.execute(sa.select(c).where(c.c.id == campaign_id).with_for_update())).first()
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
        if row.status != "created":
            raise domain.CampaignAlreadyDrawn(campaign_id, row.drawn_at)
        targets, inspectors, previous = await _directory_snapshot_inputs(uow.session)
        try:
            # Sorting, hashing and drawing are CPU work on possibly a million entries: off the event loop.
            snapshot_bytes, digest, result = await asyncio.to_thread(
                _snapshot_and_draw, row.seed, targets, inspectors, previous, _parameters(row)
            )
        except draw.InsufficientInspectors as exc:
            raise domain.DrawRefused(campaign_id, exc) from None
        drawn_at = _now()
        changed = await uow.session.execute(
            sa.update(c)
            .where(c.c.id == campaign_id)
            .where(c.c.status == "created")
            .values(
                status="drawn", snapshot=snapshot_bytes, snapshot_hash=digest,
                result=json.loads(result.to_json()), drawn_at=drawn_at,
            )
        )
        if changed.rowcount != 1:  # drawn meanwhile by a concurrent request
            raise domain.CampaignAlreadyDrawn(campaign_id, None)
        inspections = [
            domain.Inspection(
                id=str(uuid.uuid4()), kind=_INSPECTION_FOR[t.kind], target_id=t.target_id, target_kind=t.kind,
                inspector_ids=frozenset(t.inspector_ids),
            )
            for t in result.targets
        ]
        await _create_inspections(uow, inspections, campaign_id)
        await uow.commit()
    log.info(
        "campaign drawn", campaign_id=campaign_id, snapshot_hash=digest, drawn=len(result.targets), actor=principal.actor
    )
    return await get_campaign(runtime, campaign_id)


def _campaign_view(row: Any, result: dict[str, Any] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id, "name": row.name, "status": row.status, "target_kinds": row.target_kinds,
        "ratios": row.ratios, "inspectors_per_target": row.inspectors_per_target, "seed": row.seed,
        "created_at": row.created_at.isoformat(), "drawn_at": row.drawn_at.isoformat() if row.drawn_at else None,
        "snapshot_hash": row.snapshot_hash, "algorithm": draw.ALGORITHM,
    }
    if row.status == "drawn":
        view["public_draw"] = f"/public/campaigns/{row.id}/draw"
    if result is not None:
        view["counts"] = result["counts"]
        view["drawn"] = len(result["targets"])
    return view


# The snapshot bytes and the result can be large (a million targets): read only when needed.
_CAMPAIGN_SUMMARY = [col for col in db.campaigns.c if col.name not in ("snapshot", "result")]


async def get_campaign(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    c = db.campaigns
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(*_CAMPAIGN_SUMMARY, c.c.result).where(c.c.id == campaign_id))).first()
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    return _campaign_view(row, row.result)


async def list_campaigns(runtime: ServiceRuntime, drawn_only: bool, limit: int, offset: int) -> dict[str, Any]:
    c = db.campaigns
    query = sa.select(*_CAMPAIGN_SUMMARY).order_by(c.c.created_at.desc(), c.c.id).limit(limit).offset(offset)
    if drawn_only:
        query = query.where(c.c.status == "drawn")
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {"items": [_campaign_view(r) for r in rows]}


async def _drawn_campaign(session: Any, campaign_id: str, *columns: Any) -> Any:
    c = db.campaigns
    row = (await session.execute(sa.select(c.c.status, *columns).where(c.c.id == campaign_id))).first()
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    if row.status != "drawn":
        raise NotFound(f"campaign {campaign_id} has not been drawn yet: nothing is published", field="campaign_id")
    return row


async def published_draw(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    """Everything needed to re-run a draw: seed, snapshot hash and where its bytes are, the result."""
    c = db.campaigns
    async with runtime.sessions() as session:
        row = await _drawn_campaign(
            session, campaign_id, c.c.id, c.c.name, c.c.seed, c.c.snapshot_hash, c.c.result, c.c.drawn_at
        )
    return {
        "campaign_id": row.id, "name": row.name, "drawn_at": row.drawn_at.isoformat(),
        "algorithm": row.result["algorithm"], "seed": row.seed, "snapshot_hash": row.snapshot_hash,
        "snapshot_format": draw.SNAPSHOT_FORMAT, "snapshot_url": f"/public/campaigns/{row.id}/snapshot",
        "result_format": draw.RESULT_FORMAT, "result": row.result,
        "verify_with": f"python -m supervision.verify_draw --url <this service> --campaign {row.id}",
    }


async def published_snapshot(runtime: ServiceRuntime, campaign_id: str) -> tuple[bytes, str]:
    """The exact canonical bytes the draw used, and their SHA-256."""
    c = db.campaigns
    async with runtime.sessions() as session:
        row = await _drawn_campaign(session, campaign_id, c.c.snapshot, c.c.snapshot_hash)
    return row.snapshot, row.snapshot_hash


# --- directory queries and one public ----------------------------------------------------------


async def list_targets(runtime: ServiceRuntime, kind: Any, limit: int, offset: int) -> dict[str, Any]:
    query = sa.select(db.targets).order_by(db.targets.c.uscc).limit(limit).offset(offset)
    if kind:
        query = query.where(db.targets.c.kind == str(kind))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).mappings().all()
    return {"items": [{"uscc": r["uscc"], "kind": r["kind"], "name": r["name"], "credit_class": r["credit_class"]} for r in rows]}


async def get_target(runtime: ServiceRuntime, uscc: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = (await session.execute(sa.select(db.targets).where(db.targets.c.uscc == uscc))).first()
        if row is None:
            raise NotFound(f"no target {uscc} in the directory", field="uscc")
        changes = (
            await session.execute(
                sa.select(db.credit_changes).where(db.credit_changes.c.organisation_uscc == uscc).order_by(db.credit_changes.c.id)
            )
        ).all()
    return {
        "uscc": row.uscc, "kind": row.kind, "name": row.name, "credit_class": row.credit_class,
        "credit_history": [
            {"previous": c.previous, "current": c.current, "cause": c.cause, "cause_event_id": c.cause_event_id, "at": c.at.isoformat()}
            for c in changes
        ],
    }


async def published_results(
    runtime: ServiceRuntime, organisation: str | None, since: dt.date | None, until: dt.date | None, limit: int, offset: int
) -> dict[str, Any]:
    i = db.inspections
    query = (
        sa.select(i, db.targets.c.name)
        .join(db.targets, db.targets.c.uscc == i.c.target_uscc, isouter=True)
        .where(i.c.status == "completed")
        .order_by(i.c.completed_at.desc())
        .limit(limit)
        .offset(offset)
    )
    if organisation:
        query = query.where(i.c.target_uscc == organisation)
    if since:
        query = query.where(i.c.completed_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if until:
        query = query.where(i.c.completed_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    return {
        "items": [
            {"inspection_id": r.id, "target_uscc": r.target_uscc, "target_name": r.name, "target_kind": r.target_kind,
             "kind": r.kind, "date": r.completed_at.date().isoformat(), "verdict": r.verdict,
             "findings_summary": (r.findings or "")[:300]}
            for r in rows
        ]
    }
