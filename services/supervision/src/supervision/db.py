"""The supervision service's tables (directories of targets and inspectors, credit history,
campaigns with their published draws, inspections and their results), the mapping between
their rows and the domain's objects, and the loads, saves and queries of the use cases."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared.db import UTCDateTime, messaging_tables, upsertable_insert
from conformity_shared.events import CreditClass, OrganisationKind

from supervision.domain.campaign import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignAction,
    CampaignParameters,
    CampaignStatus,
)
from supervision.domain.credit import CREDIT_ORDER, CreditChange, CreditStanding
from supervision.domain.directory import DRAWABLE_KINDS, CertificateStatus, TargetKind
from supervision.domain.draw import DrawResult, Inspector, Target
from supervision.domain.draw_record import Beacon, Party
from supervision.domain.inspection import (
    INSPECTION_TRANSITIONS,
    AssignmentOverride,
    AssignmentRule,
    Inspection,
    InspectionAction,
    InspectionResult,
    InspectionStatus,
    SampleResult,
    Verdict,
)

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()

_KIND = {kind.value: kind for kind in OrganisationKind}
_CLASS = {credit_class.value: credit_class for credit_class in CreditClass}

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
    # published-seed-v1: a campaign drawn before commit-reveal, its seed published at creation;
    # commit-reveal-beacon-v1: the seed derived at the draw (DRAW.md).
    sa.Column("seed_scheme", sa.String(40), nullable=False),
    sa.Column("seed", sa.String(200), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # created | frozen | drawn | cancelled
    sa.Column("reveal_deadline", TZ, nullable=True),
    sa.Column("beacon_source", sa.String(500), nullable=True),
    sa.Column("beacon_due", TZ, nullable=True),
    sa.Column("beacon_value", sa.String(1000), nullable=True),
    sa.Column("beacon_recorded_at", TZ, nullable=True),
    sa.Column("frozen_at", TZ, nullable=True),
    sa.Column("snapshot", sa.LargeBinary, nullable=True),  # the canonical bytes frozen for the draw
    sa.Column("snapshot_hash", sa.String(64), nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("drawn_at", TZ, nullable=True),
    sa.Column("cancelled_at", TZ, nullable=True),
    sa.Column("cancel_reason", sa.Text, nullable=True),
)

# The parties of a commit-reveal campaign: each one's commitment and reveal, with their times.
campaign_parties = sa.Table(
    "campaign_parties",
    metadata,
    sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("party", sa.String(64), primary_key=True),
    sa.Column("commitment", sa.String(64), nullable=True),
    sa.Column("committed_at", TZ, nullable=True),
    sa.Column("secret", sa.String(1000), nullable=True),
    sa.Column("revealed_at", TZ, nullable=True),
    sa.Column("withheld", sa.Boolean, nullable=False),
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
    # An inspection ordered by hand: the assignment rules the regulator set aside, and why.
    sa.Column("override_rules", sa.JSON, nullable=True),
    sa.Column("override_reason", sa.Text, nullable=True),
)

inspection_assignments = sa.Table(
    "inspection_assignments",
    metadata,
    sa.Column("inspection_id", sa.String(36), sa.ForeignKey("inspections.id"), primary_key=True),
    sa.Column("inspector_id", sa.String(64), sa.ForeignKey("inspectors.id"), primary_key=True),
)


# ==================================================================================
# The target directory and credit standings
# ==================================================================================


async def list_target(session: AsyncSession, uscc: str, kind: TargetKind, name: str, at: dt.datetime) -> None:
    """List the organisation in the directory with a new organisation's credit standing, or,
    when it is listed already, update its kind and name."""
    standing = CreditStanding.new(uscc, at)
    insert = upsertable_insert(session, targets).values(
        uscc=uscc, kind=kind.value, name=name, credit_class=standing.credit_class.value,
        clean_since=standing.clean_since, updated_at=at,
    )
    await session.execute(
        insert.on_conflict_do_update(index_elements=["uscc"], set_={"kind": kind.value, "name": name, "updated_at": at})
    )


async def target_kind(session: AsyncSession, uscc: str) -> str | None:
    return await session.scalar(sa.select(targets.c.kind).where(targets.c.uscc == uscc))


async def mirror_issued_certificate(session: AsyncSession, certificate_number: str, holder_uscc: str) -> None:
    """Record a newly issued certificate of the holder as valid (replacing any earlier entry)."""
    await session.execute(
        sa.delete(target_certificates).where(target_certificates.c.certificate_number == certificate_number)
    )
    await session.execute(
        sa.insert(target_certificates).values(
            certificate_number=certificate_number, holder_uscc=holder_uscc, status=CertificateStatus.VALID.value
        )
    )


async def set_certificate_status(session: AsyncSession, certificate_number: str, status: CertificateStatus) -> None:
    await session.execute(
        sa.update(target_certificates)
        .where(target_certificates.c.certificate_number == certificate_number)
        .values(status=status.value)
    )


async def holder_certificates(session: AsyncSession, holder_uscc: str) -> list[tuple[str, str]]:
    """(number, status) of the holder's certificates as the directory knows them, by number."""
    c = target_certificates
    rows = await session.execute(
        sa.select(c.c.certificate_number, c.c.status).where(c.c.holder_uscc == holder_uscc).order_by(c.c.certificate_number)
    )
    return [(number, status) for number, status in rows]


async def listed_standing_for_update(session: AsyncSession, uscc: str, at: dt.datetime) -> CreditStanding:
    """The organisation's credit standing, locked until the transaction ends; an organisation not
    listed yet (a failure may arrive before its own event) is listed first, kind unknown, named by
    its code, with a new organisation's standing.

    One statement: an insert whose conflict sets the row's key to itself, which locks the row
    (on PostgreSQL as FOR UPDATE would) and returns it as it stands."""
    standing = CreditStanding.new(uscc, at)
    insert = upsertable_insert(session, targets)
    row = (await session.execute(
        insert.values(uscc=uscc, kind=TargetKind.UNKNOWN.value, name=uscc, credit_class=standing.credit_class.value,
                      clean_since=standing.clean_since, updated_at=at)
        .on_conflict_do_update(index_elements=["uscc"], set_={"uscc": insert.excluded.uscc})
        .returning(targets.c.credit_class, targets.c.clean_since)
    )).one()
    return CreditStanding(uscc, _CLASS[row.credit_class], row.clean_since)


async def save_standing(session: AsyncSession, standing: CreditStanding, at: dt.datetime) -> None:
    await session.execute(
        sa.update(targets).where(targets.c.uscc == standing.organisation).values(
            credit_class=standing.credit_class.value, clean_since=standing.clean_since, updated_at=at
        )
    )


async def restore_standing(session: AsyncSession, before: CreditStanding, after: CreditStanding,
                           at: dt.datetime) -> bool:
    """Move the organisation from `before` to `after` only if it still stands as `before`: two
    restoration passes that overlap, or a failure recorded meanwhile, make the second writer
    match nothing (True when this one moved it)."""
    moved = await session.execute(
        sa.update(targets)
        .where(targets.c.uscc == before.organisation)
        .where(targets.c.credit_class == before.credit_class.value, targets.c.clean_since == before.clean_since)
        .values(credit_class=after.credit_class.value, clean_since=after.clean_since, updated_at=at)
    )
    return moved.rowcount == 1


async def add_credit_change(session: AsyncSession, change: CreditChange, cause_event_id: str | None) -> None:
    """Keep the change in the organisation's credit history, with its cause and the event behind it."""
    await session.execute(
        sa.insert(credit_changes).values(
            organisation_uscc=change.organisation, previous=change.previous.value, current=change.current.value,
            cause=change.published_cause, cause_event_id=cause_event_id, at=change.at,
        )
    )


async def standings_clean_since(session: AsyncSession, clean_before: dt.datetime) -> list[CreditStanding]:
    """Organisations below the best class whose clean period started at or before `clean_before`."""
    rows = await session.execute(
        sa.select(targets.c.uscc, targets.c.credit_class, targets.c.clean_since)
        .where(targets.c.credit_class != CREDIT_ORDER[0].value)  # the best class has nothing to restore
        .where(targets.c.clean_since <= clean_before)
    )
    return [CreditStanding(uscc, _CLASS[credit_class], clean_since) for uscc, credit_class, clean_since in rows]


async def target_page(session: AsyncSession, kind: str | None, limit: int, offset: int) -> Sequence[sa.RowMapping]:
    query = sa.select(targets).order_by(targets.c.uscc).limit(limit).offset(offset)
    if kind:
        query = query.where(targets.c.kind == kind)
    return (await session.execute(query)).mappings().all()


async def target_row(session: AsyncSession, uscc: str) -> sa.Row[Any] | None:
    return (await session.execute(sa.select(targets).where(targets.c.uscc == uscc))).first()


async def credit_history(session: AsyncSession, uscc: str) -> Sequence[sa.Row[Any]]:
    query = sa.select(credit_changes).where(credit_changes.c.organisation_uscc == uscc).order_by(credit_changes.c.id)
    return (await session.execute(query)).all()


# ==================================================================================
# Inspectors
# ==================================================================================


async def inspector_is_registered(session: AsyncSession, inspector_id: str) -> bool:
    return await session.scalar(sa.select(inspectors.c.id).where(inspectors.c.id == inspector_id)) is not None


async def add_inspector(session: AsyncSession, inspector: Inspector, registered_at: dt.datetime) -> None:
    await session.execute(
        sa.insert(inspectors).values(
            id=inspector.id, name=inspector.name, organisation=inspector.organisation, region=inspector.region,
            active=inspector.active, registered_at=registered_at,
        )
    )


async def inspector_directory(session: AsyncSession) -> Sequence[sa.RowMapping]:
    return (await session.execute(sa.select(inspectors).order_by(inspectors.c.id))).mappings().all()


async def inspectors_by_id(session: AsyncSession, inspector_ids: Sequence[str]) -> dict[str, Inspector]:
    rows = await session.execute(
        sa.select(inspectors.c.id, inspectors.c.name, inspectors.c.organisation, inspectors.c.region, inspectors.c.active)
        .where(inspectors.c.id.in_(inspector_ids))
    )
    return {row.id: Inspector(*row) for row in rows}


# ==================================================================================
# Inspections
# ==================================================================================


def inspection_from_row(row: sa.Row[Any], assigned: Sequence[str]) -> Inspection:
    result = None
    if row.verdict:
        result = InspectionResult(
            inspector_id=row.recorded_by, verdict=Verdict(row.verdict), findings=row.findings or "",
            recorded_at=row.completed_at,
            samples=tuple(SampleResult(s["certificate_number"], s["passed"], s.get("finding") or "") for s in row.samples),
        )
    override = None
    if row.override_rules:
        override = AssignmentOverride(frozenset(AssignmentRule(r) for r in row.override_rules), row.override_reason)
    return Inspection(
        id=row.id, kind=row.kind, target_id=row.target_uscc, target_kind=row.target_kind,
        inspector_ids=frozenset(assigned), result=result, spot_check_id=row.spot_check_id,
        certificates_to_verify=tuple(row.certificates_to_verify), status=row.status, override=override,
    )


async def load_inspection_with_row(
    session: AsyncSession, inspection_id: str
) -> tuple[Inspection, sa.Row[Any], list[str]] | None:
    """The inspection, with the row and the assigned inspectors it was built from: one
    statement, a row per assigned inspector."""
    a = inspection_assignments
    rows = (await session.execute(
        sa.select(inspections, a.c.inspector_id)
        .outerjoin(a, a.c.inspection_id == inspections.c.id)
        .where(inspections.c.id == inspection_id)
        .order_by(a.c.inspector_id)
    )).all()
    if not rows:
        return None
    assigned = [row.inspector_id for row in rows if row.inspector_id is not None]
    return inspection_from_row(rows[0], assigned), rows[0], assigned


def row_after_result(row: sa.Row[Any], completed: Inspection) -> SimpleNamespace:
    """The inspection's row as `save_result` leaves it (the answer is built from it without reading
    it back)."""
    result = completed.result
    assert result is not None
    return SimpleNamespace(**{
        **row._mapping, **_result_values(completed, result),
    })


def _result_values(completed: Inspection, result: InspectionResult) -> dict[str, Any]:
    return {
        "status": completed.status.value, "verdict": result.verdict.value, "findings": result.findings,
        "samples": [{"certificate_number": s.certificate_number, "passed": s.passed, "finding": s.finding}
                    for s in result.samples],
        "completed_at": result.recorded_at, "recorded_by": result.inspector_id,
    }


async def add_inspections(
    session: AsyncSession, opened: Sequence[Inspection], campaign_id: str | None, at: dt.datetime
) -> None:
    """Insert inspections and their assignments in two bulk statements (a draw may open many)."""
    if not opened:
        return
    await session.execute(
        sa.insert(inspections),
        [
            {
                "id": inspection.id, "campaign_id": campaign_id, "target_uscc": inspection.target_id,
                "target_kind": inspection.target_kind.value, "kind": inspection.kind.value,
                "spot_check_id": inspection.spot_check_id,
                "certificates_to_verify": list(inspection.certificates_to_verify), "status": inspection.status.value,
                "samples": [], "created_at": at,
                "override_rules": inspection.override.to_json()["rules"] if inspection.override else None,
                "override_reason": inspection.override.reason if inspection.override else None,
            }
            for inspection in opened
        ],
    )
    await session.execute(
        sa.insert(inspection_assignments),
        [
            {"inspection_id": inspection.id, "inspector_id": i}
            for inspection in opened
            for i in sorted(inspection.inspector_ids)
        ],
    )


async def previous_campaign_inspectors(session: AsyncSession, target_uscc: str) -> list[str]:
    """Who inspected the target in the campaign drawn last (none when it was not drawn then)."""
    last_drawn = (
        sa.select(campaigns.c.id)
        .where(campaigns.c.status == CampaignStatus.DRAWN.value)
        .order_by(campaigns.c.drawn_at.desc(), campaigns.c.id)
        .limit(1)
        .scalar_subquery()
    )
    i, a = inspections, inspection_assignments
    query = (
        sa.select(a.c.inspector_id)
        .join(i, i.c.id == a.c.inspection_id)
        .where(i.c.campaign_id == last_drawn, i.c.target_uscc == target_uscc)
        .order_by(a.c.inspector_id)
    )
    return list((await session.execute(query)).scalars())


async def save_result(session: AsyncSession, completed: Inspection) -> bool:
    """Store the result of a completed inspection; False when another request recorded one first."""
    result = completed.result
    assert result is not None  # a completed inspection has its result
    allowed_from, _ = INSPECTION_TRANSITIONS[InspectionAction.RECORD]
    changed = await session.execute(
        sa.update(inspections)
        .where(inspections.c.id == completed.id)
        .where(inspections.c.status.in_([status.value for status in allowed_from]))
        .values(**_result_values(completed, result))
    )
    return changed.rowcount == 1


async def inspection_page(
    session: AsyncSession,
    assigned_to: str | None,
    campaign_id: str | None,
    status: InspectionStatus | None,
    limit: int,
    offset: int,
) -> Sequence[sa.Row[Any]]:
    """Inspections, newest first; only those assigned to `assigned_to` when given."""
    i, a = inspections, inspection_assignments
    query = sa.select(i).order_by(i.c.created_at.desc(), i.c.id).limit(limit).offset(offset)
    if assigned_to is not None:
        query = query.where(i.c.id.in_(sa.select(a.c.inspection_id).where(a.c.inspector_id == assigned_to)))
    if campaign_id:
        query = query.where(i.c.campaign_id == campaign_id)
    if status:
        query = query.where(i.c.status == status.value)
    return (await session.execute(query)).all()


async def assignments_of(session: AsyncSession, inspection_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each inspection's assigned inspectors, sorted."""
    assigned: dict[str, list[str]] = {inspection_id: [] for inspection_id in inspection_ids}
    if not assigned:
        return assigned
    a = inspection_assignments
    pairs = await session.execute(
        sa.select(a.c.inspection_id, a.c.inspector_id)
        .where(a.c.inspection_id.in_(list(assigned)))
        .order_by(a.c.inspector_id)
    )
    for inspection_id, inspector_id in pairs:
        assigned[inspection_id].append(inspector_id)
    return assigned


async def completed_results(
    session: AsyncSession,
    organisation: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    offset: int,
) -> Sequence[sa.Row[Any]]:
    """Completed inspections with their target's name, latest first, completed in [since, until)."""
    i = inspections
    query = (
        sa.select(i, targets.c.name)
        .join(targets, targets.c.uscc == i.c.target_uscc, isouter=True)
        .where(i.c.status == InspectionStatus.COMPLETED.value)
        .order_by(i.c.completed_at.desc())
        .limit(limit)
        .offset(offset)
    )
    if organisation:
        query = query.where(i.c.target_uscc == organisation)
    if since:
        query = query.where(i.c.completed_at >= since)
    if until:
        query = query.where(i.c.completed_at < until)
    return (await session.execute(query)).all()


# ==================================================================================
# Campaigns and their published draws
# ==================================================================================

# The snapshot bytes and the result can be large (a million targets): read only when needed.
CAMPAIGN_SUMMARY = [column for column in campaigns.c if column.name not in ("snapshot", "result")]


def campaign_from_row(row: sa.Row[Any], party_rows: Sequence[sa.Row[Any]]) -> Campaign:
    parameters = CampaignParameters(
        kinds=frozenset(row.target_kinds), ratios=dict(row.ratios), inspectors_per_target=row.inspectors_per_target
    )
    beacon = None
    if row.beacon_source is not None:
        beacon = Beacon(row.beacon_source, row.beacon_due, row.beacon_value, row.beacon_recorded_at)
    parties = tuple(
        Party(p.party, p.commitment, p.committed_at, p.secret, p.revealed_at, p.withheld) for p in party_rows
    )
    return Campaign(
        id=row.id, name=row.name, parameters=parameters, created_at=row.created_at, parties=parties,
        reveal_deadline=row.reveal_deadline, beacon=beacon, status=CampaignStatus(row.status),
        seed_scheme=row.seed_scheme, frozen_at=row.frozen_at, snapshot_hash=row.snapshot_hash, seed=row.seed,
        drawn_at=row.drawn_at, cancelled_at=row.cancelled_at, cancel_reason=row.cancel_reason,
    )


def _campaign_state(campaign: Campaign) -> dict[str, Any]:
    """The columns a step of the lifecycle changes."""
    beacon = campaign.beacon
    return {
        "status": campaign.status.value, "frozen_at": campaign.frozen_at, "snapshot_hash": campaign.snapshot_hash,
        "seed": campaign.seed, "beacon_value": beacon.value if beacon else None,
        "beacon_recorded_at": beacon.recorded_at if beacon else None, "drawn_at": campaign.drawn_at,
        "cancelled_at": campaign.cancelled_at, "cancel_reason": campaign.cancel_reason,
    }


def _party_values(party: Party) -> dict[str, Any]:
    return {
        "commitment": party.commitment, "committed_at": party.committed_at, "secret": party.secret,
        "revealed_at": party.revealed_at, "withheld": party.withheld,
    }


async def add_campaign(session: AsyncSession, campaign: Campaign) -> None:
    parameters = campaign.parameters
    beacon = campaign.beacon
    await session.execute(
        sa.insert(campaigns).values(
            id=campaign.id, name=campaign.name, target_kinds=sorted(k.value for k in parameters.kinds),
            ratios={c.value: format(r.normalize(), "f") for c, r in parameters.ratios.items()},
            inspectors_per_target=parameters.inspectors_per_target, seed_scheme=campaign.seed_scheme,
            reveal_deadline=campaign.reveal_deadline, beacon_source=beacon.source if beacon else None,
            beacon_due=beacon.due if beacon else None, created_at=campaign.created_at, **_campaign_state(campaign),
        )
    )
    await session.execute(
        sa.insert(campaign_parties),
        [{"campaign_id": campaign.id, "party": p.id, **_party_values(p)} for p in campaign.parties],
    )


async def _party_rows(session: AsyncSession, campaign_id: str) -> Sequence[sa.Row[Any]]:
    p = campaign_parties
    return (await session.execute(sa.select(p).where(p.c.campaign_id == campaign_id).order_by(p.c.party))).all()


async def load_campaign(session: AsyncSession, campaign_id: str, *, for_update: bool = False) -> Campaign | None:
    """The campaign with its parties; locked until the transaction ends when `for_update`."""
    query = sa.select(*CAMPAIGN_SUMMARY).where(campaigns.c.id == campaign_id)
    row = (await session.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        return None
    return campaign_from_row(row, await _party_rows(session, campaign_id))


async def save_campaign(
    session: AsyncSession,
    campaign: Campaign,
    action: CampaignAction,
    *,
    snapshot: bytes | None = None,
    result: DrawResult | None = None,
) -> bool:
    """Store the campaign after `action` (with the frozen snapshot bytes, or the draw's result);
    False when a concurrent request moved it on first."""
    allowed_from, _ = CAMPAIGN_TRANSITIONS[action]
    values = _campaign_state(campaign)
    if snapshot is not None:
        values["snapshot"] = snapshot
    if result is not None:
        values["result"] = json.loads(result.to_json())
    changed = await session.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .where(campaigns.c.status.in_([status.value for status in allowed_from]))
        .values(**values)
    )
    if changed.rowcount != 1:
        return False
    p = campaign_parties
    for party in campaign.parties:
        await session.execute(
            sa.update(p).where(p.c.campaign_id == campaign.id, p.c.party == party.id).values(**_party_values(party))
        )
    return True


async def frozen_snapshot(session: AsyncSession, campaign_id: str) -> bytes:
    """The canonical snapshot bytes frozen for the campaign's draw."""
    return await session.scalar(sa.select(campaigns.c.snapshot).where(campaigns.c.id == campaign_id))


async def campaign_result(session: AsyncSession, campaign_id: str) -> dict[str, Any] | None:
    """The campaign's published result (None until drawn)."""
    return await session.scalar(sa.select(campaigns.c.result).where(campaigns.c.id == campaign_id))


async def draw_directory(
    session: AsyncSession,
) -> tuple[list[Target], list[Inspector], dict[str, tuple[str, ...]]]:
    """The directories as the draw sees them, one query each (a draw reads every target), and
    the assignments of the campaign drawn last."""
    t = targets
    target_rows = await session.execute(
        sa.select(t.c.uscc, t.c.kind, t.c.name, t.c.credit_class)
        .where(t.c.kind.in_([kind.value for kind in sorted(DRAWABLE_KINDS)]))
    )
    # Dictionary lookups rather than enum calls: a draw may read a million rows.
    drawable = [Target(uscc, _KIND[kind], name, _CLASS[cls]) for uscc, kind, name, cls in target_rows]
    i = inspectors
    inspector_rows = await session.execute(sa.select(i.c.id, i.c.name, i.c.organisation, i.c.region, i.c.active))
    registered = [Inspector(*row) for row in inspector_rows]
    previous = await session.scalar(
        sa.select(campaigns.c.result)
        .where(campaigns.c.status == CampaignStatus.DRAWN.value)
        .order_by(campaigns.c.drawn_at.desc(), campaigns.c.id)
        .limit(1)
    )
    assignments = {e["id"]: tuple(e["inspectors"]) for e in previous["targets"]} if previous else {}
    return drawable, registered, assignments


async def campaign_columns(session: AsyncSession, campaign_id: str, *columns: Any) -> sa.Row[Any] | None:
    """The campaign's status and the given columns."""
    query = sa.select(campaigns.c.status, *columns).where(campaigns.c.id == campaign_id)
    return (await session.execute(query)).first()


async def campaign_page(session: AsyncSession, limit: int, offset: int) -> Sequence[sa.Row[Any]]:
    c = campaigns
    query = sa.select(*CAMPAIGN_SUMMARY).order_by(c.c.created_at.desc(), c.c.id).limit(limit).offset(offset)
    return (await session.execute(query)).all()
