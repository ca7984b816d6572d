"""What the regulator and the labs ask proficiency to do, as typed commands the routes hand to
the use cases. Where an HTTP body is the whole command the route takes the command as its body
(so validation and its 422 answers come from these models); where a path parameter joins the
body, the route builds the command.

The literal method names ("reference", "fixed" ...) are the HTTP contract, kept as literals so
that refused input is answered as before; each maps onto the domain's enum of the same values.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from conformity_shared.uscc import USCC

from proficiency import domain

FieldCode = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$", description="the test field, e.g. TL-FOOD")
]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # a misspelt "expanded_uncertainty" is refused, not ignored


# --- creating a round ---------------------------------------------------------------------


class ReferenceValue(Command):
    method: Literal["reference"]
    value: FiniteFloat = Field(description="the reference value, e.g. of a certified reference material")
    expanded_uncertainty: float = Field(ge=0, allow_inf_nan=False, description="its expanded uncertainty U")
    coverage_factor: float = Field(gt=0, allow_inf_nan=False, description="the coverage factor k of U")

    def assigned_value(self) -> domain.ReferenceAssignedValue:
        return domain.ReferenceAssignedValue(self.value, self.expanded_uncertainty, self.coverage_factor)


class Consensus(Command):
    method: Literal["consensus"] = Field(description="x* of ISO 13528 Algorithm A over the participants' results")

    def assigned_value(self) -> domain.ConsensusAssignedValue:
        return domain.ConsensusAssignedValue()


class FixedSigma(Command):
    method: Literal["fixed"]
    value: float = Field(gt=0, allow_inf_nan=False, description="sigma_pt, set in advance")

    def sigma_pt(self) -> domain.FixedSigmaPt:
        return domain.FixedSigmaPt(self.value)


class RobustSigma(Command):
    method: Literal["robust"] = Field(description="sigma_pt = s* of Algorithm A over this round's results")

    def sigma_pt(self) -> domain.RobustSigmaPt:
        return domain.RobustSigmaPt()


class CreateRound(Command):
    """The regulator opens a round (the body of `POST /rounds`)."""

    field: FieldCode
    measurand: str = Field(min_length=1, max_length=300)
    unit: str = Field(min_length=1, max_length=40)
    deadline: AwareDatetime = Field(description="results are accepted until then (with a time zone)")
    assigned_value: Annotated[ReferenceValue | Consensus, Field(discriminator="method")]
    sigma_pt: Annotated[FixedSigma | RobustSigma, Field(discriminator="method")]
    labs: list[USCC] = Field(default_factory=list, max_length=1000, description="labs to enrol at once")
    algorithm_a_stopping: Literal["third_significant_figure", "full_convergence"] = Field(
        default="third_significant_figure",
        description="when Algorithm A stops: the standard's rule (ISO 13528:2015 C.3.1), or full convergence",
    )

    def design(self) -> domain.RoundDesign:
        """The round's design as ISO 13528 takes it, or InvalidRoundDesign naming the part refused."""
        try:
            assigned = self.assigned_value.assigned_value()
        except ValueError as exc:
            raise domain.InvalidRoundDesign(str(exc), "assigned_value") from None
        try:
            sigma = self.sigma_pt.sigma_pt()
        except ValueError as exc:
            raise domain.InvalidRoundDesign(str(exc), "sigma_pt") from None
        return domain.RoundDesign(assigned, sigma, domain.AlgorithmAStopping(self.algorithm_a_stopping))


Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), Field(description="why, in words")
]


class CancelRound(Command):
    """The regulator cancels an open round, with its reason (`POST /rounds/{id}/cancel`)."""

    round_id: str
    reason: Reason


class ChosenValues(Command):
    """What the regulator chooses at closing a round its results cannot evaluate: a reference
    value in place of the consensus, a fixed sigma_pt in place of s*, or both, and why (the body
    of `POST /rounds/{id}/close-with-chosen-values`)."""

    assigned_value: ReferenceValue | None = Field(default=None, description="in place of the consensus x*")
    sigma_pt: FixedSigma | None = Field(default=None, description="in place of s*")
    reason: Reason

    @model_validator(mode="after")
    def _something_is_chosen(self) -> ChosenValues:
        if self.assigned_value is None and self.sigma_pt is None:
            raise ValueError("choose a reference value (assigned_value), a fixed sigma_pt, or both")
        return self

    def chosen_assigned_value(self) -> domain.ReferenceAssignedValue | None:
        return self.assigned_value.assigned_value() if self.assigned_value else None

    def chosen_sigma_pt(self) -> domain.FixedSigmaPt | None:
        return self.sigma_pt.sigma_pt() if self.sigma_pt else None


class CloseRoundWithChosenValues(ChosenValues):
    """The regulator closes a round with values chosen then (`POST /rounds/{id}/close-with-chosen-values`)."""

    round_id: str


class EnrolLabs(Command):
    """The regulator enrols labs in a round (`POST /rounds/{id}/enrolments`)."""

    round_id: str
    labs: list[USCC] = Field(min_length=1, max_length=1000)


# --- results -----------------------------------------------------------------------------


class Measurement(Command):
    """A lab's result: the value, and optionally its expanded uncertainty U with k (the body
    of `POST /samples/{id}/result`)."""

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


class SubmitResult(Command):
    """A lab submits its result to a round (`POST /rounds/{id}/results`)."""

    round_id: str
    measurement: Measurement
    lab_uscc: USCC | None = Field(default=None, description="optional; if given, it must be the token's lab")


class ReportSample(Command):
    """A lab reports its result on a sample (`POST /samples/{id}/result`)."""

    sample_id: str
    measurement: Measurement


# --- blind samples -----------------------------------------------------------------------


class RegisterBlindSample(Command):
    """The regulator registers a blind sample for a lab (the body of `POST /blind-samples`)."""

    field: FieldCode
    lab_uscc: USCC = Field(description="the lab that receives the sample")
    measurand: str = Field(min_length=1, max_length=300)
    unit: str = Field(min_length=1, max_length=40)
    description: str | None = Field(default=None, max_length=1000, description="what the lab is told")
    known_value: FiniteFloat = Field(description="never shown to the lab")
    tolerance: float = Field(ge=0, allow_inf_nan=False, description="absolute; never shown to the lab")
