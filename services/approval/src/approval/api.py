"""HTTP routes of approval: parse, authorize the role, build the command, call one use case, answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator

from conformity_shared.web import MAX_OFFSET
from conformity_shared.auth import Principal, Role, require
from conformity_shared.runtime import RuntimeDep

from approval import service
from approval.commands import (
    AssignVerification,
    DecideApplication,
    FieldCode,
    RecordVerification,
    ReduceScope,
    ReinstateApproval,
    RevokeApproval,
    SubmitApplication,
    SuspendApproval,
)
from approval.domain import Decision

router = APIRouter(tags=["approval"])

Agency = Annotated[Principal, Depends(require(Role.AGENCY))]
Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]
Inspector = Annotated[Principal, Depends(require(Role.INSPECTOR))]
AgencyOrRegulator = Annotated[Principal, Depends(require(Role.AGENCY, Role.REGULATOR))]
RegulatorOrInspector = Annotated[Principal, Depends(require(Role.REGULATOR, Role.INSPECTOR))]


# The bodies of the routes whose command also names the object from the path.


class DecisionIn(BaseModel):
    decision: Literal["grant", "reject"]
    granted_fields: list[FieldCode] | None = Field(default=None, description="a subset of the requested fields; all if omitted")
    reasons: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _rejection_has_reasons(self) -> DecisionIn:
        if self.decision == Decision.REJECT and not self.reasons:
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


@router.get("/catalogue", summary="The catalogue of fields with their risk level and the schemes each admits")
async def catalogue(runtime: RuntimeDep) -> dict:
    return service.catalogue_view(runtime)


@router.post("/applications", status_code=201, summary="Apply (agency); the commitment path is decided at once")
async def apply(body: SubmitApplication, principal: Agency, runtime: RuntimeDep) -> dict:
    return await service.apply(runtime, principal, body)


@router.get("/applications", summary="Applications (an agency sees its own)")
async def list_applications(
    principal: AgencyOrRegulator,
    runtime: RuntimeDep,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.list_applications(runtime, principal, status, limit, offset)


@router.get("/applications/overdue", summary="Standard-path applications and verifications past their deadline")
async def overdue(
    principal: Regulator,
    runtime: RuntimeDep,
    as_of: Annotated[dt.date | None, Query(description="the day to judge on; today if omitted")] = None,
) -> dict:
    return await service.overdue(runtime, as_of)


@router.get("/applications/{application_id}", summary="One application (its own agency, or a regulator)")
async def get_application(application_id: str, principal: AgencyOrRegulator, runtime: RuntimeDep) -> dict:
    return await service.get_application(runtime, principal, application_id)


@router.post("/applications/{application_id}/accept", summary="Accept a standard-path application (regulator)")
async def accept(application_id: str, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.accept(runtime, principal, application_id)


@router.post("/applications/{application_id}/decision", summary="Grant or reject (regulator)")
async def decide(application_id: str, body: DecisionIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    command = DecideApplication(
        application_id=application_id, decision=body.decision, granted_fields=body.granted_fields, reasons=body.reasons
    )
    return await service.decide(runtime, principal, command)


@router.get("/approvals/{approval_id}", summary="One approval with its history")
async def get_approval(approval_id: str, principal: AgencyOrRegulator, runtime: RuntimeDep) -> dict:
    return await service.get_approval(runtime, principal, approval_id)


@router.get("/approvals", summary="Approvals (an agency sees its own)")
async def list_approvals(principal: AgencyOrRegulator, runtime: RuntimeDep, organisation_uscc: str | None = None) -> dict:
    return await service.list_approvals(runtime, principal, organisation_uscc)


@router.post("/approvals/{approval_id}/suspend", summary="Suspend, whole or some fields (regulator)")
async def suspend(approval_id: str, body: LifecycleIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    command = SuspendApproval(approval_id=approval_id, reason=body.reason, fields=body.fields)
    return await service.suspend_approval(runtime, principal, command)


@router.post("/approvals/{approval_id}/reinstate", summary="Reinstate, whole or some fields (regulator)")
async def reinstate(approval_id: str, body: LifecycleIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    command = ReinstateApproval(approval_id=approval_id, reason=body.reason, fields=body.fields)
    return await service.reinstate_approval(runtime, principal, command)


@router.post("/approvals/{approval_id}/reduce-scope", summary="Remove fields from the approval (regulator)")
async def reduce_scope(approval_id: str, body: ReduceIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    command = ReduceScope(approval_id=approval_id, reason=body.reason, remove_fields=body.remove_fields)
    return await service.reduce_scope(runtime, principal, command)


@router.post("/approvals/{approval_id}/revoke", summary="Revoke the approval (regulator)")
async def revoke(approval_id: str, body: LifecycleIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.revoke_approval(runtime, principal, RevokeApproval(approval_id=approval_id, reason=body.reason))


@router.get("/credit-sanctions", summary="Credit sanctions of breached commitments (an agency sees its own)")
async def credit_sanctions(principal: AgencyOrRegulator, runtime: RuntimeDep, organisation_uscc: str | None = None) -> dict:
    return await service.credit_sanctions(runtime, principal, organisation_uscc)


@router.get("/verifications", summary="Post-approval verifications (an inspector sees those assigned to them)")
async def list_verifications(principal: RegulatorOrInspector, runtime: RuntimeDep, status: str | None = None) -> dict:
    return await service.list_verifications(runtime, principal, status)


@router.post("/verifications/{verification_id}/assign", summary="Assign the post-approval verification (regulator)")
async def assign(verification_id: str, body: AssignIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    command = AssignVerification(verification_id=verification_id, inspector_id=body.inspector_id)
    return await service.assign_verification(runtime, principal, command)


@router.post("/verifications/{verification_id}/result", summary="Record the verification (the assigned inspector)")
async def verify(verification_id: str, body: VerificationIn, principal: Inspector, runtime: RuntimeDep) -> dict:
    command = RecordVerification(verification_id=verification_id, outcome=body.outcome, findings=body.findings)
    return await service.record_verification(runtime, principal, command)
