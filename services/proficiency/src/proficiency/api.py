"""HTTP routes of proficiency: parse, authorize, call the use case, shape the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, FiniteFloat, ValidationInfo, field_validator

from conformity_shared.auth import Principal, Role, require
from conformity_shared.uscc import USCC

from proficiency import plot, service

router = APIRouter(tags=["proficiency"])

Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]
Lab = Annotated[Principal, Depends(require(Role.LAB))]
Participant = Annotated[Principal, Depends(require(Role.REGULATOR, Role.LAB))]

FieldCode = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$", description="the test field, e.g. TL-FOOD")
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt "expanded_uncertainty" is refused, not ignored


class ReferenceValueIn(Input):
    method: Literal["reference"]
    value: FiniteFloat = Field(description="the reference value, e.g. of a certified reference material")
    expanded_uncertainty: float = Field(ge=0, allow_inf_nan=False, description="its expanded uncertainty U")
    coverage_factor: float = Field(gt=0, allow_inf_nan=False, description="the coverage factor k of U")


class ConsensusIn(Input):
    method: Literal["consensus"] = Field(description="x* of ISO 13528 Algorithm A over the participants' results")


class FixedSigmaIn(Input):
    method: Literal["fixed"]
    value: float = Field(gt=0, allow_inf_nan=False, description="sigma_pt, set in advance")


class RobustSigmaIn(Input):
    method: Literal["robust"] = Field(description="sigma_pt = s* of Algorithm A over this round's results")


class RoundIn(Input):
    field: FieldCode
    measurand: str = Field(min_length=1, max_length=300)
    unit: str = Field(min_length=1, max_length=40)
    deadline: AwareDatetime = Field(description="results are accepted until then (with a time zone)")
    assigned_value: Annotated[ReferenceValueIn | ConsensusIn, Field(discriminator="method")]
    sigma_pt: Annotated[FixedSigmaIn | RobustSigmaIn, Field(discriminator="method")]
    labs: list[USCC] = Field(default_factory=list, max_length=1000, description="labs to enrol at once")


class EnrolIn(Input):
    labs: list[USCC] = Field(min_length=1, max_length=1000)


class MeasurementIn(Input):
    value: FiniteFloat
    expanded_uncertainty: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="U, with k")
    coverage_factor: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, validate_default=True, description="k, with U"
    )

    @field_validator("coverage_factor")
    @classmethod
    def _k_comes_with_u(cls, k: float | None, info: ValidationInfo) -> float | None:
        if "expanded_uncertainty" not in info.data:
            return k  # U itself was invalid and is reported on its own
        u = info.data["expanded_uncertainty"]
        if u is not None and k is None:
            raise ValueError("an expanded uncertainty U needs its coverage factor k (we do not guess k)")
        if u is None and k is not None:
            raise ValueError("a coverage factor k needs its expanded uncertainty U")
        return k


class ResultIn(MeasurementIn):
    lab_uscc: USCC | None = Field(default=None, description="optional; if given, it must be the token's lab")


class BlindSampleIn(Input):
    field: FieldCode
    lab_uscc: USCC = Field(description="the lab that receives the sample")
    measurand: str = Field(min_length=1, max_length=300)
    unit: str = Field(min_length=1, max_length=40)
    description: str | None = Field(default=None, max_length=1000, description="what the lab is told")
    known_value: FiniteFloat = Field(description="never shown to the lab")
    tolerance: float = Field(ge=0, allow_inf_nan=False, description="absolute; never shown to the lab")


def _rt(request: Request):  # noqa: ANN202
    return request.app.state.runtime


# --- rounds ------------------------------------------------------------------------------


@router.post("/rounds", status_code=201, summary="Create a proficiency-testing round (regulator)")
async def create_round(body: RoundIn, principal: Regulator, request: Request) -> dict:
    return await service.create_round(_rt(request), principal, body.model_dump())


@router.get("/rounds", summary="Rounds (regulator: all; lab: those it is enrolled in)")
async def list_rounds(
    principal: Participant,
    request: Request,
    status: Literal["open", "closed"] | None = None,
    field: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_rounds(_rt(request), principal, status, field, limit, offset)


@router.get("/rounds/{round_id}", summary="One round (a lab sees it only when enrolled)")
async def get_round(round_id: str, principal: Participant, request: Request) -> dict:
    return await service.get_round(_rt(request), principal, round_id)


@router.post("/rounds/{round_id}/enrolments", summary="Enrol labs in an open round (regulator)")
async def enrol(round_id: str, body: EnrolIn, principal: Regulator, request: Request) -> dict:
    return await service.enrol(_rt(request), principal, round_id, body.labs)


@router.post("/rounds/{round_id}/results", status_code=201, summary="Submit the lab's one result (lab)")
async def submit_result(round_id: str, body: ResultIn, principal: Lab, request: Request) -> dict:
    return await service.submit_result(_rt(request), principal, round_id, body.model_dump())


@router.get("/rounds/{round_id}/results/{lab_uscc}", summary="A lab's result and scores (the lab itself, or regulator)")
async def get_result(round_id: str, lab_uscc: str, principal: Participant, request: Request) -> dict:
    return await service.get_result(_rt(request), principal, round_id, lab_uscc)


@router.post("/rounds/{round_id}/close", summary="Close and evaluate a round after its deadline (regulator)")
async def close_round(round_id: str, principal: Regulator, request: Request) -> dict:
    return await service.close_round(_rt(request), principal, round_id)


@router.get("/rounds/{round_id}/report", summary="Report of a closed round (lab: own scores, anonymised distribution)")
async def round_report(round_id: str, principal: Participant, request: Request) -> dict:
    return await service.round_report(_rt(request), principal, round_id)


@router.get(
    "/rounds/{round_id}/report/plot",
    summary="Plot of a closed round: results, assigned value, ±2σ_pt and ±3σ_pt bands",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
async def round_plot(
    round_id: str, principal: Participant, request: Request, format: Literal["svg", "png"] = "svg"
) -> Response:
    image = await service.round_plot(_rt(request), principal, round_id, format)
    return Response(image, media_type=plot.MEDIA_TYPES[format])


# --- blind samples: the regulator's side ---------------------------------------------------


@router.post("/blind-samples", status_code=201, summary="Register a blind sample and assign it to a lab (regulator)")
async def register_blind_sample(body: BlindSampleIn, principal: Regulator, request: Request) -> dict:
    return await service.register_blind_sample(_rt(request), principal, body.model_dump())


@router.get("/blind-samples", summary="Blind samples with known values and verdicts (regulator)")
async def list_blind_samples(
    principal: Regulator,
    request: Request,
    lab_uscc: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    return await service.list_blind_samples(_rt(request), lab_uscc, limit, offset)


@router.get("/blind-samples/{sample_id}", summary="One blind sample (regulator)")
async def get_blind_sample(sample_id: str, principal: Regulator, request: Request) -> dict:
    return await service.get_blind_sample(_rt(request), sample_id)


# --- samples: the lab's side (a blind sample is, to the lab, a sample like any other) ------


@router.get("/samples", summary="Samples assigned to the lab for testing (lab)")
async def my_samples(principal: Lab, request: Request) -> dict:
    return await service.samples_for_lab(_rt(request), principal)


@router.get("/samples/{sample_id}", summary="One sample assigned to the lab (lab)")
async def my_sample(sample_id: str, principal: Lab, request: Request) -> dict:
    return await service.sample_for_lab(_rt(request), principal, sample_id)


@router.post("/samples/{sample_id}/result", summary="Report the result on a sample, once (lab)")
async def report_sample(sample_id: str, body: MeasurementIn, principal: Lab, request: Request) -> dict:
    return await service.report_sample(_rt(request), principal, sample_id, body.model_dump())


# --- consequences ------------------------------------------------------------------------


@router.get("/labs/{lab_uscc}/outcomes", summary="A lab's outcomes and the suspensions they required (regulator)")
async def lab_outcomes(lab_uscc: str, principal: Regulator, request: Request) -> dict:
    return await service.lab_outcomes(_rt(request), lab_uscc.strip().upper())
