"""Campaigns: created by the regulator, drawn once, their draws published for anyone to re-run."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from conformity_shared.auth import Principal
from conformity_shared.errors import NotFound
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.commands import CreateCampaign
from supervision.domain import Campaign, CampaignAlreadyDrawn, CampaignParameters, CampaignStatus, Inspection, draw

log = structlog.get_logger("supervision")


async def create_campaign(runtime: ServiceRuntime, principal: Principal, command: CreateCampaign) -> dict[str, Any]:
    """A regulator opens a campaign: target kinds, a ratio per credit class, N >= 2 inspectors, a seed."""
    parameters = CampaignParameters(
        kinds=frozenset(command.target_kinds),
        ratios=command.ratios,
        inspectors_per_target=command.inspectors_per_target,
    )
    async with runtime.unit_of_work() as uow:
        campaign = Campaign.create(str(uuid.uuid4()), command.name, parameters, command.seed, uow.clock.now())
        await db.add_campaign(uow.session, campaign)
        await uow.commit()
    log.info("campaign created", campaign_id=campaign.id, actor=principal.actor)
    return await get_campaign(runtime, campaign.id)


async def draw_campaign(runtime: ServiceRuntime, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """Draw the campaign from the current directories and open one inspection per drawn target.

    The snapshot bytes, their hash and the result are stored with the inspections in one
    transaction; a refused draw (too few inspectors) leaves the campaign undrawn, with no
    partial draw.
    """
    async with runtime.unit_of_work() as uow:
        campaign = await db.load_campaign_for_update(uow.session, campaign_id)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
        campaign.check_may_draw()
        targets, inspectors, previous = await db.draw_directory(uow.session)
        # Sorting, hashing and drawing are CPU work on possibly a million entries: off the event loop.
        published = await asyncio.to_thread(campaign.draw, targets, inspectors, previous)
        drawn = campaign.drawn(published, uow.clock.now())
        if not await db.save_drawn_campaign(uow.session, drawn, published):  # drawn meanwhile by a concurrent request
            raise CampaignAlreadyDrawn(campaign_id, None)
        opened = [Inspection.of_drawn_target(str(uuid.uuid4()), target) for target in published.result.targets]
        await db.add_inspections(uow.session, opened, campaign_id, uow.clock.now())
        await uow.commit()
    log.info(
        "campaign drawn", campaign_id=campaign_id, snapshot_hash=published.snapshot_hash,
        drawn=len(published.result.targets), actor=principal.actor,
    )
    return await get_campaign(runtime, campaign_id)


def _campaign_view(row: Any, result: dict[str, Any] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id, "name": row.name, "status": row.status, "target_kinds": row.target_kinds,
        "ratios": row.ratios, "inspectors_per_target": row.inspectors_per_target, "seed": row.seed,
        "created_at": row.created_at.isoformat(), "drawn_at": row.drawn_at.isoformat() if row.drawn_at else None,
        "snapshot_hash": row.snapshot_hash, "algorithm": draw.ALGORITHM,
    }
    if row.status == CampaignStatus.DRAWN:
        view["public_draw"] = f"/public/campaigns/{row.id}/draw"
    if result is not None:
        view["counts"] = result["counts"]
        view["drawn"] = len(result["targets"])
    return view


async def get_campaign(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        row = await db.campaign_summary(session, campaign_id)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    return _campaign_view(row, row.result)


async def list_campaigns(runtime: ServiceRuntime, drawn_only: bool, limit: int, offset: int) -> dict[str, Any]:
    """Campaigns, newest first; the public sees only drawn ones."""
    async with runtime.sessions() as session:
        rows = await db.campaign_page(session, drawn_only, limit, offset)
    return {"items": [_campaign_view(r) for r in rows]}


async def _drawn_campaign(runtime: ServiceRuntime, campaign_id: str, *columns: Any) -> Any:
    async with runtime.sessions() as session:
        row = await db.campaign_columns(session, campaign_id, *columns)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    if row.status != CampaignStatus.DRAWN:
        raise NotFound(f"campaign {campaign_id} has not been drawn yet: nothing is published", field="campaign_id")
    return row


async def published_draw(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    """Everything needed to re-run a draw: seed, snapshot hash and where its bytes are, the result."""
    c = db.campaigns.c
    row = await _drawn_campaign(runtime, campaign_id, c.id, c.name, c.seed, c.snapshot_hash, c.result, c.drawn_at)
    return {
        "campaign_id": row.id, "name": row.name, "drawn_at": row.drawn_at.isoformat(),
        "algorithm": row.result["algorithm"], "seed": row.seed, "snapshot_hash": row.snapshot_hash,
        "snapshot_format": draw.SNAPSHOT_FORMAT, "snapshot_url": f"/public/campaigns/{row.id}/snapshot",
        "result_format": draw.RESULT_FORMAT, "result": row.result,
        "verify_with": f"python -m supervision.verify_draw --url <this service> --campaign {row.id}",
    }


async def published_snapshot(runtime: ServiceRuntime, campaign_id: str) -> tuple[bytes, str]:
    """The exact canonical bytes the draw used, and their SHA-256."""
    c = db.campaigns.c
    row = await _drawn_campaign(runtime, campaign_id, c.snapshot, c.snapshot_hash)
    return row.snapshot, row.snapshot_hash
