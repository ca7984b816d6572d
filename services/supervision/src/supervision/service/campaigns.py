"""Campaigns through their lifecycle: created by the regulator, committed to by every party,
frozen, revealed, drawn once the beacon is published (or cancelled), one unit of work each."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.commands import CancelCampaign, CommitToCampaign, CreateCampaign, DrawCampaign, RevealSecret
from supervision.domain import (
    REGULATOR_PARTY,
    Campaign,
    CampaignAction,
    CampaignAlreadyDrawn,
    CampaignParameters,
    CampaignStatus,
    CampaignStepRefused,
    Inspection,
    draw,
)

log = structlog.get_logger("supervision")


def party_of(principal: Principal) -> str:
    """The party a caller acts as: the regulator, or the observer its token names as its subject."""
    return REGULATOR_PARTY if principal.role is Role.REGULATOR else principal.subject


async def create_campaign(runtime: ServiceRuntime, principal: Principal, command: CreateCampaign) -> dict[str, Any]:
    """A regulator opens a campaign: target kinds, a ratio per credit class, N >= 2 inspectors, the
    observers who commit and reveal with the regulator, the reveal deadline and the beacon."""
    parameters = CampaignParameters(
        kinds=frozenset(command.target_kinds),
        ratios=command.ratios,
        inspectors_per_target=command.inspectors_per_target,
    )
    async with runtime.unit_of_work() as uow:
        campaign = Campaign.create(
            str(uuid.uuid4()), command.name, parameters, command.observers, command.reveal_deadline,
            command.beacon_source, command.beacon_due, uow.clock.now(),
        )
        await db.add_campaign(uow.session, campaign)
        await uow.commit()
    log.info("campaign created", campaign_id=campaign.id, parties=[p.id for p in campaign.parties],
             actor=principal.actor)
    return await get_campaign(runtime, campaign.id)


async def _for_update(uow: UnitOfWork, campaign_id: str) -> Campaign:
    campaign = await db.load_campaign(uow.session, campaign_id, for_update=True)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    return campaign


async def _save(uow: UnitOfWork, campaign: Campaign, action: CampaignAction, snapshot: bytes | None = None) -> None:
    if not await db.save_campaign(uow.session, campaign, action, snapshot=snapshot):
        raise CampaignStepRefused(campaign.id, "one_step_at_a_time", "another request moved it on first; read it again")


async def commit_to_campaign(
    runtime: ServiceRuntime, principal: Principal, command: CommitToCampaign
) -> dict[str, Any]:
    """The caller's party commits to its secret, before the snapshot is frozen."""
    async with runtime.unit_of_work() as uow:
        campaign = await _for_update(uow, command.campaign_id)
        committed = campaign.commit(party_of(principal), command.commitment, uow.clock.now())
        await _save(uow, committed, CampaignAction.COMMIT)
        await uow.commit()
    log.info("commitment recorded", campaign_id=command.campaign_id, actor=principal.actor)
    return await get_campaign(runtime, command.campaign_id)


async def freeze_campaign(runtime: ServiceRuntime, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """Freeze the directories as they are now into the snapshot the draw will use, and publish its hash."""
    async with runtime.unit_of_work() as uow:
        campaign = await _for_update(uow, campaign_id)
        campaign.check_may(CampaignAction.FREEZE)
        targets, inspectors, previous = await db.draw_directory(uow.session)
        # Sorting, checking and hashing are CPU work on possibly a million entries: off the event loop.
        frozen = await asyncio.to_thread(campaign.freeze, targets, inspectors, previous, uow.clock.now())
        await _save(uow, frozen.campaign, CampaignAction.FREEZE, frozen.snapshot_bytes)
        await uow.commit()
    log.info("campaign frozen", campaign_id=campaign_id, snapshot_hash=frozen.campaign.snapshot_hash,
             actor=principal.actor)
    return await get_campaign(runtime, campaign_id)


async def reveal_secret(runtime: ServiceRuntime, principal: Principal, command: RevealSecret) -> dict[str, Any]:
    """The caller's party reveals its secret, after the freeze and by the reveal deadline."""
    async with runtime.unit_of_work() as uow:
        campaign = await _for_update(uow, command.campaign_id)
        revealed = campaign.reveal(party_of(principal), command.secret, uow.clock.now())
        await _save(uow, revealed, CampaignAction.REVEAL)
        await uow.commit()
    log.info("secret revealed", campaign_id=command.campaign_id, actor=principal.actor)
    return await get_campaign(runtime, command.campaign_id)


async def draw_campaign(runtime: ServiceRuntime, principal: Principal, command: DrawCampaign) -> dict[str, Any]:
    """Draw on the frozen snapshot with the derived seed and open one inspection per drawn target.

    The beacon, the withheld parties, the seed, the result and the inspections are stored in one
    transaction; the draw is refused before the beacon is due.
    """
    async with runtime.unit_of_work() as uow:
        campaign = await _for_update(uow, command.campaign_id)
        now = uow.clock.now()
        campaign.check_may_draw(now)
        snapshot = await db.frozen_snapshot(uow.session, campaign.id)
        drawn = await asyncio.to_thread(campaign.draw, snapshot, command.beacon_value, now)
        if not await db.save_campaign(uow.session, drawn.campaign, CampaignAction.DRAW, result=drawn.result):
            raise CampaignAlreadyDrawn(campaign.id, None)  # drawn meanwhile by a concurrent request
        opened = [Inspection.of_drawn_target(str(uuid.uuid4()), target) for target in drawn.result.targets]
        await db.add_inspections(uow.session, opened, campaign.id, now)
        await uow.commit()
    log.info(
        "campaign drawn", campaign_id=campaign.id, snapshot_hash=campaign.snapshot_hash, seed=drawn.campaign.seed,
        withheld=list(drawn.campaign.withheld), drawn=len(drawn.result.targets), actor=principal.actor,
    )
    return await get_campaign(runtime, campaign.id)


async def cancel_campaign(runtime: ServiceRuntime, principal: Principal, command: CancelCampaign) -> dict[str, Any]:
    """The regulator gives a campaign up before its draw; the reason is published."""
    async with runtime.unit_of_work() as uow:
        campaign = await _for_update(uow, command.campaign_id)
        cancelled = campaign.cancel(command.reason, uow.clock.now())
        await _save(uow, cancelled, CampaignAction.CANCEL)
        await uow.commit()
    log.info("campaign cancelled", campaign_id=command.campaign_id, actor=principal.actor)
    return await get_campaign(runtime, command.campaign_id)


# --- reading -------------------------------------------------------------------------


def campaign_summary(row: Any) -> dict[str, Any]:
    """A campaign in a list: where it stands, and where its public record is."""
    return {
        "id": row.id, "name": row.name, "status": row.status, "seed_scheme": row.seed_scheme,
        "target_kinds": row.target_kinds, "ratios": row.ratios, "inspectors_per_target": row.inspectors_per_target,
        "created_at": row.created_at.isoformat(), "frozen_at": row.frozen_at.isoformat() if row.frozen_at else None,
        "drawn_at": row.drawn_at.isoformat() if row.drawn_at else None, "snapshot_hash": row.snapshot_hash,
        "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
        "public_record": f"/public/campaigns/{row.id}",
    }


def campaign_view(campaign: Campaign, result: dict[str, Any] | None) -> dict[str, Any]:
    """One campaign with its parties, deadline, beacon, snapshot and, once drawn, its counts."""
    record = campaign.record(result).to_json()
    view: dict[str, Any] = {
        "id": campaign.id, "name": campaign.name, "status": campaign.status.value,
        "target_kinds": sorted(k.value for k in campaign.parameters.kinds),
        "ratios": {c.value: format(r.normalize(), "f") for c, r in campaign.parameters.ratios.items()},
        "inspectors_per_target": campaign.parameters.inspectors_per_target, "seed_scheme": campaign.seed_scheme,
        "parties": record["parties"], "reveal_deadline": record["reveal_deadline"], "beacon": record["beacon"],
        "frozen_at": record["frozen_at"], "snapshot_hash": campaign.snapshot_hash, "seed": campaign.seed,
        "withheld": list(campaign.withheld), "algorithm": draw.ALGORITHM,
        "created_at": campaign.created_at.isoformat(),
        "drawn_at": campaign.drawn_at.isoformat() if campaign.drawn_at else None,
        "cancelled_at": record_instant(campaign.cancelled_at), "cancel_reason": campaign.cancel_reason,
        "public_record": f"/public/campaigns/{campaign.id}",
    }
    if campaign.status is CampaignStatus.DRAWN:
        view["public_draw"] = f"/public/campaigns/{campaign.id}/draw"
    if result is not None:
        view["counts"] = result["counts"]
        view["drawn"] = len(result["targets"])
    return view


def record_instant(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def load_with_result(runtime: ServiceRuntime, campaign_id: str) -> tuple[Campaign, dict[str, Any] | None]:
    """The campaign and its result (None until drawn); NotFound when there is no such campaign."""
    async with runtime.sessions() as session:
        campaign = await db.load_campaign(session, campaign_id)
        result = await db.campaign_result(session, campaign_id) if campaign else None
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    return campaign, result


async def get_campaign(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    return campaign_view(*await load_with_result(runtime, campaign_id))


async def list_campaigns(runtime: ServiceRuntime, limit: int, offset: int) -> dict[str, Any]:
    """Campaigns, newest first, whatever their status (their records are public as they happen)."""
    async with runtime.sessions() as session:
        rows = await db.campaign_page(session, limit, offset)
    return {"items": [campaign_summary(r) for r in rows]}
