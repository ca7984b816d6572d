"""HTTP routes of approval: parse, authorize, call the use case, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from conformity_shared.auth import Principal, Role, require
from conformity_shared.uscc import USCC

from approval import service

router = APIRouter(tags=["approval"])

Agency = Annotated[Principal, Depends(require(Role.AGENCY))]
Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]
Inspector = Annotated[Principal, Depends(require(Role.INSPECTOR))]
AgencyOrRegulator = Annotated[Principal, Depends(require(Role.AGENCY, Role.REGULATOR))]
RegulatorOrInspector = Annotated[Principal, Depends(require(Role.REGULATOR, Role.INSPECTOR))]

FieldCode = Annotated[str, Field(min_length=1, max_length=40)]


# The declared facts are optional here so that the rules, not the parser, answer a missing
# one: the refusal then lists every failed rule at once, with its code.
class Declared(BaseModel):
    staff_per_field: dict[FieldCode, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="full-time qualified personnel per requested field"
    )
    registered_capital_rmb: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="RMB; required of certification bodies"
    )
    premises: str | None = Field(default=None, max_length=500, description="address and description of the premises")
    management_system: str | None = Field(
        default=None, max_length=500, description="the management system documentation"
    )


class ApplicationIn(BaseModel):
    organisation_uscc: USCC
    organisation_name: str = Field(min_length=1, max_length=300)
    kind: Literal["certification_body", "testing_lab"]
    path: Literal["commitment", "standard"]
    requested_fields: list[FieldCode] = Field(min_length=1, max_length=50)
    declared: Declared
    commitment_text: str | None = Field(default=None, max_length=5000, description="signed commitment (commitment path)")

    @model_validator(mode="after")
    def _no_duplicate_fields(self) -> ApplicationIn:
        if len(set(self.requested_fields)) != len(self.requested_fields):
            raise ValueError("requested_fields must not repeat a field")
        return self


class DecisionIn(BaseModel):
    decision: Literal["grant", "reject"]
    granted_fields: list[FieldCode] | None = Field(default=None, description="a subset of the requested fields; all if omitted")
    reasons: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _rejection_has_reasons(self) -> DecisionIn:
        if self.decision == "reject" and not self.reasons:
            raise ValueError("a rejection needs at least one reason")
        return self


class LifecycleIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)
    fields: list[FieldCode] = Field(default_factory=list, description="for suspend/reinstate: only these fields")


class ReduceIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)
    remove_fields: list[FieldCode] = Field(min_length=1)


class AssignIn(BaseModel):
    inspector_id: str = Field(min_length=1, max_length=64)


class VerificationIn(BaseModel):
    outcome: Literal["confirmed", "breached"]
    findings: str = Field(min_length=1, max_length=5000)


def _rt(request: Request):  # noqa: ANN202
    return request.app.state.runtime


@router.get("/catalogue", summary="The catalogue of fields with their risk level")
async def catalogue(request: Request) -> dict:
    return service.catalogue_view(_rt(request))


@router.post("/applications", status_code=201, summary="Apply (agency); the commitment path is decided at once")
async def apply(body: ApplicationIn, principal: Agency, request: Request) -> dict:
    return await service.apply(_rt(request), principal, body.model_dump())


@router.get("/applications", summary="Applications (an agency sees its own)")
async def list_applications(
    principal: AgencyOrRegulator,
    request: Request,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_applications(_rt(request), principal, status, limit, offset)


@router.get("/applications/overdue", summary="Standard-path applications and verifications past their deadline")
async def overdue(
    principal: Regulator,
    request: Request,
    as_of: Annotated[dt.date | None, Query(description="the day to judge on; today if omitted")] = None,
) -> dict:
    return await service.overdue(_rt(request), as_of)


@router.get("/applications/{application_id}", summary="One application (its own agency, or a regulator)")
async def get_application(application_id: str, principal: AgencyOrRegulator, request: Request) -> dict:
    return await service.get_application(_rt(request), principal, application_id)


@router.post("/applications/{application_id}/accept", summary="Accept a standard-path application (regulator)")
async def accept(application_id: str, principal: Regulator, request: Request) -> dict:
    return await service.accept(_rt(request), principal, application_id)


@router.post("/applications/{application_id}/decision", summary="Grant or reject (regulator)")
async def decide(application_id: str, body: DecisionIn, principal: Regulator, request: Request) -> dict:
    return await service.decide(_rt(request), principal, application_id, body.model_dump())


@router.get("/approvals/{approval_id}", summary="One approval with its history")
async def get_approval(approval_id: str, principal: AgencyOrRegulator, request: Request) -> dict:
    return await service.get_approval(_rt(request), principal, approval_id)


@router.get("/approvals", summary="Approvals (an agency sees its own)")
async def list_approvals(principal: AgencyOrRegulator, request: Request, organisation_uscc: str | None = None) -> dict:
    return await service.list_approvals(_rt(request), principal, organisation_uscc)


@router.post("/approvals/{approval_id}/suspend", summary="Suspend, whole or some fields (regulator)")
async def suspend(approval_id: str, body: LifecycleIn, principal: Regulator, request: Request) -> dict:
    return await service.change(_rt(request), principal, approval_id, "suspend", body.reason, body.fields)


@router.post("/approvals/{approval_id}/reinstate", summary="Reinstate, whole or some fields (regulator)")
async def reinstate(approval_id: str, body: LifecycleIn, principal: Regulator, request: Request) -> dict:
    return await service.change(_rt(request), principal, approval_id, "reinstate", body.reason, body.fields)


@router.post("/approvals/{approval_id}/reduce-scope", summary="Remove fields from the approval (regulator)")
async def reduce_scope(approval_id: str, body: ReduceIn, principal: Regulator, request: Request) -> dict:
    return await service.change(_rt(request), principal, approval_id, "reduce", body.reason, body.remove_fields)


@router.post("/approvals/{approval_id}/revoke", summary="Revoke the approval (regulator)")
async def revoke(approval_id: str, body: LifecycleIn, principal: Regulator, request: Request) -> dict:
    return await service.change(_rt(request), principal, approval_id, "revoke", body.reason, [])


@router.get("/credit-sanctions", summary="Credit sanctions of breached commitments (an agency sees its own)")
async def credit_sanctions(principal: AgencyOrRegulator, request: Request, organisation_uscc: str | None = None) -> dict:
    return await service.credit_sanctions(_rt(request), principal, organisation_uscc)


@router.get("/verifications", summary="Post-approval verifications (an inspector sees those assigned to them)")
async def list_verifications(principal: RegulatorOrInspector, request: Request, status: str | None = None) -> dict:
    return await service.list_verifications(_rt(request), principal, status)


@router.post("/verifications/{verification_id}/assign", summary="Assign the post-approval verification (regulator)")
async def assign(verification_id: str, body: AssignIn, principal: Regulator, request: Request) -> dict:
    return await service.assign_verification(_rt(request), principal, verification_id, body.inspector_id)


@router.post("/verifications/{verification_id}/result", summary="Record the verification (the assigned inspector)")
async def verify(verification_id: str, body: VerificationIn, principal: Inspector, request: Request) -> dict:
    return await service.record_verification(_rt(request), principal, verification_id, body.outcome, body.findings)
