"""HTTP routes of supervision: parse, authorize, call the use case, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from conformity_shared.auth import Principal, Role, require
from conformity_shared.events import CreditClass, OrganisationKind
from conformity_shared.uscc import USCC

from supervision import service
from supervision.domain import draw

router = APIRouter(tags=["supervision"])
public = APIRouter(prefix="/public", tags=["one public"])

Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]
Inspector = Annotated[Principal, Depends(require(Role.INSPECTOR))]
Staff = Annotated[Principal, Depends(require(Role.REGULATOR, Role.INSPECTOR))]


class InspectorIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    organisation: USCC = Field(description="the inspector's employer; never drawn to inspect it")
    region: str = Field(min_length=1, max_length=40)
    active: bool = True


class InspectionIn(BaseModel):
    target_uscc: USCC
    target_kind: OrganisationKind
    kind: Literal["organisation_inspection", "product_spot_check", "re_inspection"]
    inspector_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=10)
    spot_check_id: str | None = Field(
        default=None, description="for a re-inspection: the failed product spot check whose rectification it verifies"
    )

    @model_validator(mode="after")
    def _re_inspection_names_its_spot_check(self) -> InspectionIn:
        if self.kind == "re_inspection" and not self.spot_check_id:
            raise ValueError("spot_check_id is required for a re_inspection")
        return self


class SampleIn(BaseModel):
    certificate_number: str = Field(min_length=1, max_length=40)
    passed: bool
    finding: str | None = Field(default=None, max_length=2000)


class ResultIn(BaseModel):
    verdict: Literal["pass", "fail"] | None = Field(
        default=None, description="required except for a product spot check, whose verdict follows from its samples"
    )
    findings: str = Field(default="", max_length=5000, description="required on fail")
    samples: list[SampleIn] = Field(default_factory=list, max_length=1000, description="product spot checks only")


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    target_kinds: list[OrganisationKind] = Field(
        min_length=1, description="which directories are drawn from: certification_body, testing_lab, enterprise"
    )
    ratios: dict[CreditClass, str | int | float] = Field(
        default_factory=lambda: {c: str(r) for c, r in draw.DEFAULT_RATIOS.items()},
        description='sampling ratio per credit class, between 0 and 1, one for each of A-D (decimal strings '
        'such as "0.05" are exact); per class ceil(ratio x population) targets are drawn',
    )
    inspectors_per_target: int = Field(default=draw.MIN_INSPECTORS_PER_TARGET, le=50, description="at least 2")
    seed: str = Field(
        min_length=1, max_length=200,
        description="the published seed, e.g. a public lottery result of a stated date; the draw is a function of it",
    )


def _rt(request: Request):  # noqa: ANN202
    return request.app.state.runtime


@router.post("/inspectors", status_code=201, summary="Register an inspector (regulator)")
async def register_inspector(body: InspectorIn, principal: Regulator, request: Request) -> dict:
    return await service.register_inspector(_rt(request), principal, body.model_dump())


@router.get("/inspectors", summary="The inspector directory")
async def list_inspectors(principal: Regulator, request: Request) -> dict:
    return await service.list_inspectors(_rt(request))


@router.get("/targets", summary="The target directory with credit classes")
async def list_targets(
    principal: Regulator,
    request: Request,
    kind: OrganisationKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_targets(_rt(request), kind, limit, offset)


@router.get("/targets/{uscc}", summary="One target with its credit history")
async def get_target(uscc: str, principal: Regulator, request: Request) -> dict:
    return await service.get_target(_rt(request), uscc)


@router.post("/inspections", status_code=201, summary="Order an inspection outside a campaign (regulator)")
async def order_inspection(body: InspectionIn, principal: Regulator, request: Request) -> dict:
    return await service.order_inspection(_rt(request), principal, body.model_dump())


@router.get("/inspections", summary="Inspections (regulator: all; inspector: those assigned to them)")
async def list_inspections(
    principal: Staff,
    request: Request,
    campaign_id: str | None = None,
    status: Literal["assigned", "completed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_inspections(_rt(request), principal, campaign_id, status, limit, offset)


@router.get("/inspections/{inspection_id}", summary="One inspection (regulator, or an assigned inspector)")
async def get_inspection(inspection_id: str, principal: Staff, request: Request) -> dict:
    return await service.get_inspection(_rt(request), principal, inspection_id)


@router.post("/inspections/{inspection_id}/result", summary="Record the result (an assigned inspector)")
async def record_result(inspection_id: str, body: ResultIn, principal: Inspector, request: Request) -> dict:
    return await service.record_result(_rt(request), principal, inspection_id, body.model_dump())


@public.get("/inspections", summary="Completed inspection results (no token)")
async def published_results(
    request: Request,
    organisation: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.published_results(_rt(request), organisation, since, until, limit, offset)


@router.post("/campaigns", status_code=201, summary="Create a random-inspection campaign (regulator)")
async def create_campaign(body: CampaignIn, principal: Regulator, request: Request) -> dict:
    return await service.create_campaign(_rt(request), principal, body.model_dump())


@router.get("/campaigns", summary="Campaigns, newest first (regulator)")
async def list_campaigns(
    principal: Regulator,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_campaigns(_rt(request), False, limit, offset)


@router.get("/campaigns/{campaign_id}", summary="One campaign with its draw counts (regulator)")
async def get_campaign(campaign_id: str, principal: Regulator, request: Request) -> dict:
    return await service.get_campaign(_rt(request), campaign_id)


@router.post(
    "/campaigns/{campaign_id}/draw",
    summary="Draw the campaign once and open its inspections (regulator)",
    description="422 with the shortfalls when the conflict rules leave too few inspectors; 409 when already drawn.",
)
async def draw_campaign(campaign_id: str, principal: Regulator, request: Request) -> dict:
    return await service.draw_campaign(_rt(request), principal, campaign_id)


@public.get("/campaigns", summary="Drawn campaigns (no token)")
async def published_campaigns(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_campaigns(_rt(request), True, limit, offset)


@public.get("/campaigns/{campaign_id}/draw", summary="Seed, snapshot hash and result of a draw, to re-run it (no token)")
async def published_draw(campaign_id: str, request: Request) -> dict:
    return await service.published_draw(_rt(request), campaign_id)


@public.get(
    "/campaigns/{campaign_id}/snapshot",
    summary="The exact canonical snapshot bytes the draw used (no token)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "canonical JSON; SHA-256 = snapshot_hash"}},
)
async def published_snapshot(campaign_id: str, request: Request) -> Response:
    snapshot, digest = await service.published_snapshot(_rt(request), campaign_id)
    return Response(content=snapshot, media_type="application/json", headers={"X-Snapshot-SHA256": digest})
