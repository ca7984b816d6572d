"""What the routes hand to the use cases: one frozen, typed command per action.

`SubmitApplication` is exactly the body of `POST /applications`, so the route takes it as
its body type and its validation is the HTTP answer (422s, field names, messages). The
other commands join a path parameter (the application, approval or verification) to the
body, so the route parses the body and builds the command.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conformity_shared.uscc import USCC

from approval.domain import Decision, Declared, VerificationOutcome

FieldCode = Annotated[str, Field(min_length=1, max_length=40)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)


# The declared facts are optional here so that the rules, not the parser, answer a missing
# one: the refusal then lists every failed rule at once, with its code.
class DeclaredFacts(Command):
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

    def as_declared(self) -> Declared:
        """The facts as the rules read them."""
        return Declared(
            staff_per_field=self.staff_per_field, registered_capital_rmb=self.registered_capital_rmb,
            premises=self.premises, management_system=self.management_system,
        )


class SubmitApplication(Command):
    """An agency applies for its own organisation, on the commitment or the standard path."""

    organisation_uscc: USCC
    organisation_name: str = Field(min_length=1, max_length=300)
    # Literals rather than the domain's enums: the HTTP answer to a bad value stays as it is.
    kind: Literal["certification_body", "testing_lab"]
    path: Literal["commitment", "standard"]
    requested_fields: list[FieldCode] = Field(min_length=1, max_length=50)
    declared: DeclaredFacts
    commitment_text: str | None = Field(default=None, max_length=5000, description="signed commitment (commitment path)")

    @model_validator(mode="after")
    def _no_duplicate_fields(self) -> SubmitApplication:
        if len(set(self.requested_fields)) != len(self.requested_fields):
            raise ValueError("requested_fields must not repeat a field")
        return self


class DecideApplication(Command):
    """A regulator grants an accepted application (all fields, or `granted_fields`) or rejects it."""

    application_id: str
    decision: Decision
    granted_fields: tuple[str, ...] | None = None  # all the requested fields when None
    reasons: tuple[str, ...] = ()


class SuspendApproval(Command):
    """Suspend the whole approval, or only `fields`."""

    approval_id: str
    reason: str
    fields: tuple[str, ...] = ()


class ReinstateApproval(Command):
    """Lift the whole suspension, or only that of `fields`."""

    approval_id: str
    reason: str
    fields: tuple[str, ...] = ()


class ReduceScope(Command):
    """Remove `remove_fields` from the approval."""

    approval_id: str
    reason: str
    remove_fields: tuple[str, ...]


class RevokeApproval(Command):
    approval_id: str
    reason: str


class AssignVerification(Command):
    """The regulator names the inspector who verifies the commitment."""

    verification_id: str
    inspector_id: str


class RecordVerification(Command):
    """The assigned inspector records what they found."""

    verification_id: str
    outcome: VerificationOutcome
    findings: str
