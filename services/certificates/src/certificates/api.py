"""HTTP routes: parse, authorize the role, build the command, call one use case, answer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.routing import Match, Route
from starlette.types import Scope
from pydantic import BaseModel, Field

from conformity_shared.web import MAX_OFFSET
from conformity_shared import credentials
from conformity_shared.auth import Principal, Role, require
from conformity_shared.errors import DomainError
from conformity_shared.rate_limits import client_of
from conformity_shared.runtime import RuntimeDep

from certificates import scheduler, service
from certificates.rendering import status_page
from certificates.service import digital as digital_certificates
from certificates.commands import (
    CancelCertificate,
    IssueCertificate,
    ReinstateCertificate,
    SuspendCertificate,
    WithdrawCertificate,
)

router = APIRouter(prefix="/certificates", tags=["certificates"])
public = APIRouter(prefix="/public/certificates", tags=["public verification"])
# Digital certificates: the issuing keys, each certificate's credential, document and status page,
# and the bodies' status lists. Public, no token.
digital = APIRouter(tags=["digital certificates"])

Body = Annotated[Principal, Depends(require(Role.AGENCY, Role.REGULATOR))]
Issuer = Annotated[Principal, Depends(require(Role.AGENCY))]
Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]


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


@router.post("", status_code=201, summary="Issue a certificate (certification body)")
async def issue(command: IssueCertificate, principal: Issuer, runtime: RuntimeDep) -> dict:
    return await service.issue(runtime, principal, command)


@router.get("", summary="List certificates (a body sees its own)")
async def list_certificates(
    principal: Body,
    runtime: RuntimeDep,
    status: str | None = None,
    holder_uscc: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.list_certificates(runtime, principal, status, holder_uscc, limit, offset)


@router.post("/due-transitions", summary="Run the time-based transitions now (regulator)")
async def run_due_transitions(principal: Regulator, runtime: RuntimeDep, as_of: dt.date | None = None) -> dict:
    """What the in-service scheduler does on its own every interval: withdraw certificates
    whose suspension deadline has passed and expire those past validity (DESIGN flow 5).

    `as_of` runs them as on a later day: only where the service allows it
    (CONFORMITY_ALLOW_AS_OF, for demonstrations and tests), never in production."""
    if as_of is not None and not runtime.settings.allow_as_of:
        raise DomainError("as_of is disabled here (CONFORMITY_ALLOW_AS_OF is for demonstrations)", field="as_of")
    return await scheduler.run_due_transitions(runtime, as_of)


@router.get("/{number}", summary="One certificate with its history")
async def get_certificate(number: str, principal: Body, runtime: RuntimeDep) -> dict:
    return await service.get_certificate(runtime, principal, number)


@router.post("/{number}/suspend", summary="Suspend a valid certificate")
async def suspend(number: str, body: SuspendRequest, principal: Body, runtime: RuntimeDep) -> dict:
    command = SuspendCertificate(number=number, reason=body.reason, holder_reference=body.holder_reference,
                                 note=body.note)
    return await service.suspend(runtime, principal, command)


@router.post("/{number}/reinstate", summary="Reinstate a suspended certificate")
async def reinstate(number: str, body: TransitionRequest, principal: Body, runtime: RuntimeDep) -> dict:
    return await service.reinstate(runtime, principal, ReinstateCertificate(number=number, reason=body.reason))


@router.post("/{number}/withdraw", summary="Withdraw a certificate")
async def withdraw(number: str, body: TransitionRequest, principal: Body, runtime: RuntimeDep) -> dict:
    return await service.withdraw(runtime, principal, WithdrawCertificate(number=number, reason=body.reason))


@router.post("/{number}/cancel", summary="Cancel a certificate at the holder's request")
async def cancel(number: str, body: TransitionRequest, principal: Body, runtime: RuntimeDep) -> dict:
    command = CancelCertificate(number=number, reason=body.reason, holder_reference=body.holder_reference)
    return await service.cancel(runtime, principal, command)


class JSONBytes(Response):
    """A JSON answer encoded by orjson: the same bytes as FastAPI's JSONResponse for these answers
    (compact, UTF-8, keys in order; tests/test_public_read.py), at a fraction of the cost."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


@public.get("/{number}", summary="Verify one certificate (no token)", response_model=dict)
async def verify(number: str, runtime: RuntimeDep) -> Response:
    return JSONBytes(await service.verify(runtime, number))


class _GetOnly(Route):
    """A Starlette route that matches GET alone (Starlette would add HEAD), so that every other
    method falls through to the FastAPI routes as before."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["method"] != "GET":
            return Match.NONE, {}
        return super().matches(scope)


async def _verify_direct(request: Request) -> Response:
    return JSONBytes(await service.verify(request.app.state.runtime, request.path_params["number"]))


def serve_one_number_directly(app: FastAPI) -> None:
    """Answer GET /public/certificates/{number} (the busiest public route) ahead of FastAPI's
    routing: the same answer as `verify` above, which stays for the OpenAPI description, without
    the per-request dependency solving that was about a third of its CPU."""
    app.router.routes.insert(0, _GetOnly(f"{public.prefix}/{{number}}", _verify_direct, name="verify_direct"))


@public.post("/verify", summary="Verify up to 1,000 certificates at once (no token)", response_model=dict)
async def verify_batch(body: VerifyBatch, request: Request, runtime: RuntimeDep) -> Response:
    """Each number asked spends one unit of the client's bulk budget (429 past it)."""
    request.app.state.verify_numbers_limit.charge(client_of(request.scope), len(body.numbers))
    return JSONBytes(await service.verify_many(runtime, body.numbers))


@digital.get(credentials.JWKS_PATH, summary="The keys that sign digital certificates (JWKS), retired ones included")
async def jwks(runtime: RuntimeDep) -> Response:
    body = digital_certificates.digital_of(runtime).keys.jwks()
    return Response(json.dumps(body), media_type="application/jwk-set+json",
                    headers={"Cache-Control": "public, max-age=300"})


@digital.get("/public/certificates/{number}/credential", summary="A certificate's signed credential (vc+jwt)",
             response_class=Response, responses={200: {"content": {credentials.MEDIA_TYPE: {}}}})
async def credential(number: str, runtime: RuntimeDep) -> Response:
    token = await digital_certificates.credential(runtime, number)
    return Response(token, media_type=credentials.MEDIA_TYPE)


@digital.get("/public/certificates/{number}/document.pdf", summary="A certificate rendered as PDF, its credential attached",
             response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
async def certificate_document(number: str, runtime: RuntimeDep) -> Response:
    token = await digital_certificates.credential(runtime, number)
    pdf = await digital_certificates.digital_of(runtime).documents.pdf(token)
    filename = f"{digital_certificates.normalised(number)}.pdf"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{filename}"'})


@digital.get("/public/certificates/{number}/page", summary="A certificate's public status page (HTML, zh/en)",
             response_class=HTMLResponse)
async def certificate_page(
    number: str, runtime: RuntimeDep, lang: Literal["zh", "en"] | None = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    row, body = await digital_certificates.status_page_row(runtime, number)
    language = lang or status_page.language_of(accept_language)
    page = status_page.render(digital_certificates.normalised(number), row, body, language, runtime.clock.today(),
                              runtime.clock.zone)
    return HTMLResponse(page.html, status_code=200 if row else 404,
                        headers={"Content-Security-Policy": page.policy, "Content-Language": language,
                                 "Cache-Control": "public, max-age=60", "Vary": "Accept-Language"})


@digital.get("/public/status-lists/{body}/{purpose}", summary="An issuing body's status list (BitstringStatusListCredential, vc+jwt)",
             response_class=Response, responses={200: {"content": {credentials.MEDIA_TYPE: {}}}, 304: {}})
async def status_list(
    body: str, purpose: str, runtime: RuntimeDep, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    answer = await digital_certificates.status_list(runtime, body, purpose, if_none_match)
    headers = {"ETag": answer.etag, "Cache-Control": f"public, max-age={answer.max_age}"}
    if answer.token is None:
        return Response(status_code=304, headers=headers)
    return Response(answer.token, media_type=credentials.MEDIA_TYPE, headers=headers)
