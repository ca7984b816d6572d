"""HTTP routes of supervision: parse, authorize, call the use case, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from conformity_shared.auth import Principal, Role, require
from conformity_shared.events import OrganisationKind
from conformity_shared.uscc import USCC

from supervision import service

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
