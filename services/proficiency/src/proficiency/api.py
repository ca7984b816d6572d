"""HTTP routes of proficiency: parse, authorize the role, build the command, call one use case,
answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from conformity_shared.web import MAX_OFFSET
from conformity_shared.auth import Principal, Role, require
from conformity_shared.runtime import RuntimeDep
from conformity_shared.uscc import USCC

from proficiency import commands, domain, plot, service

router = APIRouter(tags=["proficiency"])

Regulator = Annotated[Principal, Depends(require(Role.REGULATOR))]
Lab = Annotated[Principal, Depends(require(Role.LAB))]
Participant = Annotated[Principal, Depends(require(Role.REGULATOR, Role.LAB))]

# domain.RoundStatus's values, as a literal so that a wrong filter is answered as it always was.
RoundStatusFilter = Literal["open", "closed", "cancelled"]


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labs: list[USCC] = Field(min_length=1, max_length=1000)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: commands.Reason


class ResultIn(commands.Measurement):
    lab_uscc: USCC | None = Field(default=None, description="optional; if given, it must be the token's lab")

    def command(self, round_id: str) -> commands.SubmitResult:
        measurement = commands.Measurement(
            value=self.value, expanded_uncertainty=self.expanded_uncertainty, coverage_factor=self.coverage_factor
        )
        return commands.SubmitResult(round_id=round_id, measurement=measurement, lab_uscc=self.lab_uscc)


# --- rounds ------------------------------------------------------------------------------


@router.post("/rounds", status_code=201, summary="Create a proficiency-testing round (regulator)")
async def create_round(body: commands.CreateRound, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.create_round(runtime, principal, body)


@router.get("/rounds", summary="Rounds (regulator: all; lab: those it is enrolled in)")
async def list_rounds(
    principal: Participant,
    runtime: RuntimeDep,
    status: RoundStatusFilter | None = None,
    field: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    wanted = domain.RoundStatus(status) if status else None
    return await service.list_rounds(runtime, principal, wanted, field, limit, offset)


@router.get("/rounds/{round_id}", summary="One round (a lab sees it only when enrolled)")
async def get_round(round_id: str, principal: Participant, runtime: RuntimeDep) -> dict:
    return await service.get_round(runtime, principal, round_id)


@router.post("/rounds/{round_id}/enrolments", summary="Enrol labs in an open round (regulator)")
async def enrol(round_id: str, body: EnrolIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.enrol(runtime, principal, commands.EnrolLabs(round_id=round_id, labs=body.labs))


@router.post("/rounds/{round_id}/results", status_code=201, summary="Submit the lab's one result (lab)")
async def submit_result(round_id: str, body: ResultIn, principal: Lab, runtime: RuntimeDep) -> dict:
    return await service.submit_result(runtime, principal, body.command(round_id))


@router.get("/rounds/{round_id}/results/{lab_uscc}", summary="A lab's result and scores (the lab itself, or regulator)")
async def get_result(round_id: str, lab_uscc: str, principal: Participant, runtime: RuntimeDep) -> dict:
    return await service.get_result(runtime, principal, round_id, lab_uscc)


@router.post("/rounds/{round_id}/close", summary="Close and evaluate a round after its deadline (regulator)")
async def close_round(round_id: str, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.close_round(runtime, principal, round_id)


@router.post(
    "/rounds/{round_id}/close-with-chosen-values",
    summary="Close a round its design cannot evaluate, with a reference value and/or fixed σ_pt chosen now (regulator)",
)
async def close_round_with_chosen_values(round_id: str, body: commands.ChosenValues, principal: Regulator,
                                         runtime: RuntimeDep) -> dict:
    command = commands.CloseRoundWithChosenValues(
        round_id=round_id, assigned_value=body.assigned_value, sigma_pt=body.sigma_pt, reason=body.reason
    )
    return await service.close_round_with_chosen_values(runtime, principal, command)


@router.post("/rounds/{round_id}/cancel", summary="Cancel an open round, with its reason: no scores (regulator)")
async def cancel_round(round_id: str, body: CancelIn, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.cancel_round(runtime, principal, commands.CancelRound(round_id=round_id, reason=body.reason))


@router.get("/rounds/{round_id}/report", summary="Report of a closed round (lab: own scores, anonymised distribution)")
async def round_report(round_id: str, principal: Participant, runtime: RuntimeDep) -> dict:
    return await service.round_report(runtime, principal, round_id)


@router.get(
    "/rounds/{round_id}/report/plot",
    summary="Plot of a closed round: results, assigned value, ±2σ_pt and ±3σ_pt bands",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}},
)
async def round_plot(
    round_id: str, principal: Participant, runtime: RuntimeDep, format: Literal["svg", "png"] = "svg"
) -> Response:
    image = await service.round_plot(runtime, principal, round_id, format)
    return Response(image, media_type=plot.MEDIA_TYPES[format])


# --- blind samples: the regulator's side ---------------------------------------------------


@router.post("/blind-samples", status_code=201, summary="Register a blind sample and assign it to a lab (regulator)")
async def register_blind_sample(body: commands.RegisterBlindSample, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.register_blind_sample(runtime, principal, body)


@router.get("/blind-samples", summary="Blind samples with known values and verdicts (regulator)")
async def list_blind_samples(
    principal: Regulator,
    runtime: RuntimeDep,
    lab_uscc: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict:
    return await service.list_blind_samples(runtime, lab_uscc, limit, offset)


@router.get("/blind-samples/{sample_id}", summary="One blind sample (regulator)")
async def get_blind_sample(sample_id: str, principal: Regulator, runtime: RuntimeDep) -> dict:
    return await service.get_blind_sample(runtime, sample_id)


# --- samples: the lab's side (a blind sample is, to the lab, a sample like any other) ------


@router.get("/samples", summary="Samples assigned to the lab for testing (lab)")
async def my_samples(principal: Lab, runtime: RuntimeDep) -> dict:
    return await service.samples_for_lab(runtime, principal)


@router.get("/samples/{sample_id}", summary="One sample assigned to the lab (lab)")
async def my_sample(sample_id: str, principal: Lab, runtime: RuntimeDep) -> dict:
    return await service.sample_for_lab(runtime, principal, sample_id)


@router.post("/samples/{sample_id}/result", summary="Report the result on a sample, once (lab)")
async def report_sample(sample_id: str, body: commands.Measurement, principal: Lab, runtime: RuntimeDep) -> dict:
    return await service.report_sample(runtime, principal, commands.ReportSample(sample_id=sample_id, measurement=body))


# --- consequences ------------------------------------------------------------------------


@router.get("/labs/{lab_uscc}/outcomes", summary="A lab's outcomes and the suspensions they required (regulator, or the lab itself)")
async def lab_outcomes(lab_uscc: str, principal: Participant, runtime: RuntimeDep) -> dict:
    return await service.lab_outcomes(runtime, principal, lab_uscc.strip().upper())
