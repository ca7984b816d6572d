"""What anyone reads about a campaign, without a token: its record as it happens (parties,
commitments, the frozen snapshot's hash, reveals, the beacon, the seed, the result) and the
snapshot's exact bytes, enough to check the draw (DRAW.md)."""

from __future__ import annotations

from typing import Any

from conformity_shared.errors import NotFound
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.domain import CampaignStatus
from supervision.service.campaigns import load_with_result, record_instant


async def public_campaign(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    """The campaign's public record as it stands (`supervision.draw-record.v1` and the campaign's facts)."""
    campaign, result = await load_with_result(runtime, campaign_id)
    parameters = campaign.parameters
    return {
        "campaign_id": campaign.id, "name": campaign.name, "status": campaign.status.value,
        "parameters": {
            "target_kinds": sorted(k.value for k in parameters.kinds),
            "ratios": {c.value: format(r.normalize(), "f") for c, r in parameters.ratios.items()},
            "inspectors_per_target": parameters.inspectors_per_target,
        },
        "created_at": campaign.created_at.isoformat(), "drawn_at": record_instant(campaign.drawn_at),
        "cancelled_at": record_instant(campaign.cancelled_at), "cancel_reason": campaign.cancel_reason,
        **campaign.record(result).to_json(),
        "withheld": list(campaign.withheld),
        "snapshot_url": f"/public/campaigns/{campaign.id}/snapshot" if campaign.snapshot_hash else None,
        "verify_with": f"python -m supervision.verify_draw --url <this service> --campaign {campaign.id}",
    }


async def published_draw(runtime: ServiceRuntime, campaign_id: str) -> dict[str, Any]:
    """The record of a drawn campaign: everything needed to check and re-run its draw."""
    record = await public_campaign(runtime, campaign_id)
    if record["status"] != CampaignStatus.DRAWN:
        raise NotFound(f"campaign {campaign_id} has not been drawn yet: its record so far is at "
                       f"/public/campaigns/{campaign_id}", field="campaign_id")
    return record


async def published_snapshot(runtime: ServiceRuntime, campaign_id: str) -> tuple[bytes, str]:
    """The exact canonical bytes frozen for the draw, and their SHA-256 (published from the freeze on)."""
    c = db.campaigns.c
    async with runtime.sessions() as session:
        row = await db.campaign_columns(session, campaign_id, c.snapshot, c.snapshot_hash)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    if row.snapshot is None:
        raise NotFound(f"campaign {campaign_id} is not frozen yet: it has no snapshot", field="campaign_id")
    return row.snapshot, row.snapshot_hash
