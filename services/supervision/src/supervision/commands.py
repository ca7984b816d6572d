"""Typed commands: what the routes hand to the use cases, validated on the way in.

Where the HTTP body is exactly the command, the route takes the command as its body type;
a result's inspection comes from the path, so the route builds `RecordResult`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from conformity_shared.events import CreditClass, OrganisationKind
from conformity_shared.uscc import USCC

from supervision.domain.draw import DEFAULT_RATIOS, MIN_INSPECTORS_PER_TARGET
from supervision.domain.inspection import InspectionKind

# The HTTP spellings of the domain's InspectionKind, Verdict and InspectionStatus (a test keeps
# them equal): Literal keeps the 422 answers for an unknown value as they have always been.
InspectionKindName = Literal["organisation_inspection", "product_spot_check", "re_inspection"]
VerdictName = Literal["pass", "fail"]
InspectionStatusName = Literal["assigned", "completed"]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegisterInspector(Command):
    """The regulator registers an inspector."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    organisation: USCC = Field(description="the inspector's employer; never drawn to inspect it")
    region: str = Field(min_length=1, max_length=40)
    active: bool = True


class AssignmentOverrideRequest(Command):
    """The regulator sets aside assignment rules for one inspection ordered by hand, and says why."""

    rules: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=5,
        description="the rules set aside: min_inspectors_per_target, previous_campaign_conflict",
    )
    reason: str = Field(default="", max_length=2000, description="required; recorded on the inspection")


class OrderInspection(Command):
    """The regulator orders an inspection outside a campaign (also a re-inspection).

    Its inspectors follow the draw's rules (at least two, none from the target's organisation,
    none who inspected it in the previous drawn campaign, active ones only) unless `override`
    sets aside the number or the previous-campaign rule, with a reason.
    """

    target_uscc: USCC
    target_kind: OrganisationKind
    kind: InspectionKindName
    inspector_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=10)
    spot_check_id: str | None = Field(
        default=None, description="for a re-inspection: the failed product spot check whose rectification it verifies"
    )
    override: AssignmentOverrideRequest | None = Field(
        default=None, description="an exception to the assignment rules, with its reason, kept on the inspection"
    )

    @model_validator(mode="after")
    def _re_inspection_names_its_spot_check(self) -> OrderInspection:
        if self.kind == InspectionKind.RE_INSPECTION and not self.spot_check_id:
            raise ValueError("spot_check_id is required for a re_inspection")
        return self


class Sample(Command):
    """The result of the samples taken under one certificate."""

    certificate_number: str = Field(min_length=1, max_length=40)
    passed: bool
    finding: str | None = Field(default=None, max_length=2000)


class SubmittedResult(Command):
    """A result as the inspector submits it (the body of `POST /inspections/{id}/result`)."""

    verdict: VerdictName | None = Field(
        default=None, description="required except for a product spot check, whose verdict follows from its samples"
    )
    findings: str = Field(default="", max_length=5000, description="required on fail")
    samples: list[Sample] = Field(default_factory=list, max_length=1000, description="product spot checks only")


class RecordResult(SubmittedResult):
    """An assigned inspector records the result of inspection `inspection_id`."""

    inspection_id: str


# A party's id: the observer token's subject (the regulator is the party "regulator").
PartyId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class CreateCampaign(Command):
    """The regulator opens a random-inspection campaign, naming its parties, reveal deadline and beacon."""

    name: str = Field(min_length=1, max_length=200)
    target_kinds: list[OrganisationKind] = Field(
        min_length=1, description="which directories are drawn from: certification_body, testing_lab, enterprise"
    )
    ratios: dict[CreditClass, str | int | float] = Field(
        default_factory=lambda: {c: str(r) for c, r in DEFAULT_RATIOS.items()},
        description='sampling ratio per credit class, between 0 and 1, one for each of A-D (decimal strings '
        'such as "0.05" are exact); per class ceil(ratio x population) targets are drawn',
    )
    inspectors_per_target: int = Field(default=MIN_INSPECTORS_PER_TARGET, le=50, description="at least 2")
    observers: list[PartyId] = Field(
        min_length=1, max_length=10,
        description="the outside observers who commit and reveal besides the regulator (observer tokens' subjects)",
    )
    reveal_deadline: AwareDatetime = Field(description="the parties reveal their secrets until this instant")
    beacon_source: str = Field(
        min_length=1, max_length=500,
        description='the public random value an outside institution publishes after the reveal deadline, '
        'e.g. "China Welfare Lottery 3D, draw of 2026-12-05"',
    )
    beacon_due: AwareDatetime = Field(description="when the beacon is published; after the reveal deadline")
    seed: str | None = Field(default=None, description="no longer accepted: the seed is derived at the draw")

    @field_validator("seed")
    @classmethod
    def _the_seed_is_derived(cls, seed: str | None) -> None:
        if seed is not None:
            raise ValueError(
                "a campaign no longer takes a seed: the seed is derived at the draw from the frozen snapshot's "
                "hash, the parties' revealed secrets and the beacon (DRAW.md, draw-seed-v1)"
            )


class SubmittedCommitment(Command):
    """A party's commitment as it submits it (the body of `POST /campaigns/{id}/commitments`)."""

    commitment: str = Field(
        min_length=1, max_length=200,
        description="lowercase hex SHA-256(UTF-8(party) 0x00 UTF-8(secret)); the secret stays private until the reveal",
    )


class CommitToCampaign(SubmittedCommitment):
    """The party the caller is commits to its secret for campaign `campaign_id`."""

    campaign_id: str


class SubmittedReveal(Command):
    """A party's secret as it reveals it (the body of `POST /campaigns/{id}/reveals`)."""

    secret: str = Field(min_length=1, max_length=1000, description="the secret committed to; at least 32 characters")


class RevealSecret(SubmittedReveal):
    """The party the caller is reveals its secret for campaign `campaign_id`."""

    campaign_id: str


class SubmittedBeacon(Command):
    """The beacon's value as published (the body of `POST /campaigns/{id}/draw`)."""

    beacon_value: str = Field(min_length=1, max_length=1000, description="the beacon's published value, as text")


class DrawCampaign(SubmittedBeacon):
    """The regulator draws campaign `campaign_id` with the published beacon value."""

    campaign_id: str


class SubmittedCancellation(Command):
    """Why a campaign is given up (the body of `POST /campaigns/{id}/cancel`)."""

    reason: str = Field(default="", max_length=2000, description="required; published")


class CancelCampaign(SubmittedCancellation):
    """The regulator cancels campaign `campaign_id` before its draw."""

    campaign_id: str
