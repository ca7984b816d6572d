"""HTTP routes of supervision: parse, authorize the role, build the command, call one use case."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime

from conformity_shared.web import MAX_OFFSET
from conformity_shared.auth import Principal, Role, require
from conformity_shared.errors import DomainError
from conformity_shared.events import OrganisationKind
from conformity_shared.runtime import RuntimeDep

from supervision import service
from supervision.commands import (
    CancelCampaign,
    CommitToCampaign,
    CreateCampaign,
    DrawCampaign,
    InspectionStatusName,
    OrderInspection,
    RecordResult,
    RegisterInspector,
    RevealSecret,
    SubmittedBeacon,
    SubmittedCancellation,
    SubmittedCommitment,
    SubmittedResult,
    SubmittedReveal,
)
from supervision.domain import InspectionStatus

router = APIRouter(tags=["supervision"])
public = APIRouter(prefix="/public", tags=["one public"])

Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]
Inspector = Annotated[Principal, Depends(require(Role.INSPECTOR))]
Staff = Annotated[Principal, Depends(require(Role.REGULATOR, Role.INSPECTOR))]
# An agency or a lab reads its own entry of the directory (its credit class and why it changed).
RegulatorOrOrganisation = Annotated[Principal, Depends(require(Role.REGULATOR, Role.AGENCY, Role.LAB))]
# A party of a campaign: the regulator, or an outside observer (its token's subject is its id).
PartyPrincipal = Annotated[Principal, Depends(require(Role.REGULATOR, Role.OBSERVER))]


@router.post("/inspectors", status_code=201, summary="Register an inspector (regulator)")
async def register_inspector(command: RegisterInspector, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.register_inspector(runtime, principal, command)


@router.get("/inspectors", summary="The inspector directory")
async def list_inspectors(principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.list_inspectors(runtime)


@router.get("/targets", summary="The target directory with credit classes")
async def list_targets(
    principal: Regulator,
    runtime: RuntimeDep,
    kind: OrganisationKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.list_targets(runtime, kind, limit, offset)


@router.get("/targets/{uscc}", summary="One target with its credit history (regulator, or the organisation itself)")
async def get_target(uscc: str, principal: RegulatorOrOrganisation, runtime: RuntimeDep) -> dict:
    return await service.get_target(runtime, uscc, principal)


@router.post("/credit/restoration", summary="Run the credit restoration now (regulator)")
async def restore_credit(principal: Regulator, runtime: RuntimeDep, as_of: AwareDatetime | None = None) -> dict:
    """What the in-service job does on its own every interval: raise by one class every
    organisation whose clean period has run. Safe to run on several replicas at once: each
    class is restored once.

    `as_of` runs it as at a later instant: only where the service allows it
    (CONFORMITY_ALLOW_AS_OF, for demonstrations and tests), never in production."""
    if as_of is not None and not runtime.settings.allow_as_of:
        raise DomainError("as_of is disabled here (CONFORMITY_ALLOW_AS_OF is for demonstrations)", field="as_of")
    return {"restored": await service.restore_clean_credit(runtime, as_of)}


@router.post("/inspections", status_code=201, summary="Order an inspection outside a campaign (regulator)")
async def order_inspection(command: OrderInspection, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.order_inspection(runtime, principal, command)


@router.get("/inspections", summary="Inspections (regulator: all; inspector: those assigned to them)")
async def list_inspections(
    principal: Staff,
    runtime: RuntimeDep,
    campaign_id: str | None = None,
    status: InspectionStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    wanted = InspectionStatus(status) if status else None
    return await service.list_inspections(runtime, principal, campaign_id, wanted, limit, offset)


@router.get("/inspections/{inspection_id}", summary="One inspection (regulator, or an assigned inspector)")
async def get_inspection(inspection_id: str, principal: Staff, runtime: RuntimeDep) -> dict:
    return await service.get_inspection(runtime, principal, inspection_id)


@router.post("/inspections/{inspection_id}/result", summary="Record the result (an assigned inspector)")
async def record_result(inspection_id: str, body: SubmittedResult, principal: Inspector, runtime: RuntimeDep) -> dict:
    command = RecordResult(
        inspection_id=inspection_id, verdict=body.verdict, findings=body.findings, samples=body.samples
    )
    return await service.record_result(runtime, principal, command)


@public.get("/inspections", summary="Completed inspection results (no token)")
async def published_results(
    runtime: RuntimeDep,
    organisation: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.published_results(runtime, organisation, since, until, limit, offset)


@router.post("/campaigns", status_code=201, summary="Create a random-inspection campaign (regulator)")
async def create_campaign(command: CreateCampaign, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.create_campaign(runtime, principal, command)


@router.get("/campaigns", summary="Campaigns, newest first (regulator)")
async def list_campaigns(
    principal: Regulator,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.list_campaigns(runtime, limit, offset)


@router.get("/campaigns/{campaign_id}", summary="One campaign with its parties, snapshot and draw counts (regulator)")
async def get_campaign(campaign_id: str, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.get_campaign(runtime, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/commitments",
    summary="Commit to a secret, as the regulator or a named observer, before the freeze",
    description="403 for anyone but a named party; 409 once frozen or when another party committed to the same value.",
)
async def commit_to_campaign(
    campaign_id: str, body: SubmittedCommitment, principal: PartyPrincipal, runtime: RuntimeDep
) -> dict:
    command = CommitToCampaign(campaign_id=campaign_id, commitment=body.commitment)
    return await service.commit_to_campaign(runtime, principal, command)


@router.post(
    "/campaigns/{campaign_id}/freeze",
    summary="Freeze the directories into the draw's snapshot and publish its hash (regulator)",
    description="409 until every party has committed; 422 when it would draw nothing, or with the shortfalls "
    "when the conflict rules leave too few inspectors.",
)
async def freeze_campaign(campaign_id: str, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.freeze_campaign(runtime, principal, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/reveals",
    summary="Reveal the secret committed to, as its party, after the freeze and by the reveal deadline",
    description="422 reveal_does_not_match_commitment; 409 before the freeze, after the deadline, or a second time.",
)
async def reveal_secret(
    campaign_id: str, body: SubmittedReveal, principal: PartyPrincipal, runtime: RuntimeDep
) -> dict:
    return await service.reveal_secret(runtime, principal, RevealSecret(campaign_id=campaign_id, secret=body.secret))


@router.post(
    "/campaigns/{campaign_id}/draw",
    summary="Draw the frozen campaign once the beacon is published, and open its inspections (regulator)",
    description="409 before the freeze, before the beacon is due, or when already drawn.",
)
async def draw_campaign(campaign_id: str, body: SubmittedBeacon, principal: Regulator, runtime: RuntimeDep) -> dict:
    command = DrawCampaign(campaign_id=campaign_id, beacon_value=body.beacon_value)
    return await service.draw_campaign(runtime, principal, command)


@router.post("/campaigns/{campaign_id}/cancel", summary="Cancel a campaign before its draw, with a reason (regulator)")
async def cancel_campaign(
    campaign_id: str, body: SubmittedCancellation, principal: Regulator, runtime: RuntimeDep
) -> dict:
    command = CancelCampaign(campaign_id=campaign_id, reason=body.reason)
    return await service.cancel_campaign(runtime, principal, command)


@public.get("/campaigns", summary="Campaigns and where each stands (no token)")
async def published_campaigns(
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.list_campaigns(runtime, limit, offset)


@public.get("/campaigns/{campaign_id}", summary="A campaign's public record as it happens (no token)")
async def public_campaign(campaign_id: str, runtime: RuntimeDep) -> dict:
    return await service.public_campaign(runtime, campaign_id)


@public.get(
    "/campaigns/{campaign_id}/draw", summary="The record of a drawn campaign, to check and re-run it (no token)"
)
async def published_draw(campaign_id: str, runtime: RuntimeDep) -> dict:
    return await service.published_draw(runtime, campaign_id)


@public.get(
    "/campaigns/{campaign_id}/snapshot",
    summary="The exact canonical snapshot bytes frozen for the draw (no token)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "canonical JSON; SHA-256 = snapshot_hash"}},
)
async def published_snapshot(campaign_id: str, runtime: RuntimeDep) -> Response:
    snapshot, digest = await service.published_snapshot(runtime, campaign_id)
    return Response(content=snapshot, media_type="application/json", headers={"X-Snapshot-SHA256": digest})
