"""HTTP routes: parse, authorize, call the use case, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from conformity_shared.errors import DomainError
from conformity_shared.auth import Principal, Role, require
from conformity_shared.uscc import USCC

from certificates import scheduler, service

router = APIRouter(prefix="/certificates", tags=["certificates"])
public = APIRouter(prefix="/public/certificates", tags=["public verification"])

Body = Annotated[Principal, Depends(require(Role.AGENCY, Role.REGULATOR))]
Issuer = Annotated[Principal, Depends(require(Role.AGENCY))]
Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]


class IssueRequest(BaseModel):
    holder_uscc: USCC
    holder_name: str = Field(min_length=1, max_length=300)
    scheme: str = Field(description="CCC, voluntary_product, management_system or service")
    field: str = Field(min_length=1, max_length=40, description="the certification field, from approval's catalogue")
    product: str = Field(min_length=1, max_length=500, description="product, management system or service certified")
    standard: str = Field(min_length=1, max_length=200)
    valid_from: dt.date | None = Field(default=None, description="default: today")
    valid_until: dt.date | None = Field(default=None, description="default: the scheme's validity")


class TransitionRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=300, description="why; for suspensions one of the reason codes")
    holder_reference: str | None = Field(
        default=None, max_length=200, description="the holder's written request, required for holder requests"
    )


class SuspendRequest(TransitionRequest):
    reason: Literal["surveillance_overdue", "holder_request", "misuse"] = Field(
        description="spot_check_failed and issuing_body_revoked suspensions come only from their events"
    )
    note: str | None = Field(default=None, max_length=1000)


class VerifyBatch(BaseModel):
    # The limit is checked by the service so that the 422 names the field in the platform's
    # error shape; maxItems still documents it in OpenAPI.
    numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, json_schema_extra={"maxItems": service.MAX_VERIFY_BATCH},
        description=f"up to {service.MAX_VERIFY_BATCH} certificate numbers; unknown ones are answered as unknown",
    )


def _runtime(request: Request):  # noqa: ANN202
    return request.app.state.runtime


@router.post("", status_code=201, summary="Issue a certificate (certification body)")
async def issue(body: IssueRequest, principal: Issuer, request: Request) -> dict:
    return await service.issue(_runtime(request), principal, body.model_dump())


@router.get("", summary="List certificates (a body sees its own)")
async def list_certificates(
    principal: Body,
    request: Request,
    status: str | None = None,
    holder_uscc: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_certificates(_runtime(request), principal, status, holder_uscc, limit, offset)


@router.post("/due-transitions", summary="Run the time-based transitions now (regulator)")
async def run_due_transitions(principal: Regulator, request: Request, as_of: dt.date | None = None) -> dict:
    """What the in-service scheduler does on its own every interval: withdraw certificates
    whose suspension deadline has passed and expire those past validity (DESIGN flow 5).

    `as_of` runs them as on a later day: only where the service allows it
    (CONFORMITY_ALLOW_AS_OF, for demonstrations and tests), never in production."""
    runtime = _runtime(request)
    if as_of is not None and not runtime.settings.allow_as_of:
        raise DomainError("as_of is disabled here (CONFORMITY_ALLOW_AS_OF is for demonstrations)", field="as_of")
    return await scheduler.run_due_transitions(runtime, as_of)


@router.get("/{number}", summary="One certificate with its history")
async def get_certificate(number: str, principal: Body, request: Request) -> dict:
    return await service.get_certificate(_runtime(request), principal, number)


@router.post("/{number}/suspend", summary="Suspend a valid certificate")
async def suspend(number: str, body: SuspendRequest, principal: Body, request: Request) -> dict:
    return await service.transition(_runtime(request), principal, number, "suspend", body.reason, body.holder_reference, body.note)


@router.post("/{number}/reinstate", summary="Reinstate a suspended certificate")
async def reinstate(number: str, body: TransitionRequest, principal: Body, request: Request) -> dict:
    return await service.transition(_runtime(request), principal, number, "reinstate", body.reason, body.holder_reference)


@router.post("/{number}/withdraw", summary="Withdraw a certificate")
async def withdraw(number: str, body: TransitionRequest, principal: Body, request: Request) -> dict:
    return await service.transition(_runtime(request), principal, number, "withdraw", body.reason, body.holder_reference)


@router.post("/{number}/cancel", summary="Cancel a certificate at the holder's request")
async def cancel(number: str, body: TransitionRequest, principal: Body, request: Request) -> dict:
    return await service.transition(_runtime(request), principal, number, "cancel", body.reason, body.holder_reference)


@public.get("/{number}", summary="Verify one certificate (no token)")
async def verify(number: str, request: Request) -> dict:
    return await service.verify(_runtime(request), number)


@public.post("/verify", summary="Verify up to 1,000 certificates at once (no token)")
async def verify_batch(body: VerifyBatch, request: Request) -> dict:
    return await service.verify_many(_runtime(request), body.numbers)
