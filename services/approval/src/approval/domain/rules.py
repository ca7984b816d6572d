"""The conditions an application must meet, configurable, and the check that lists
every rule an application fails (not only the first)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from conformity_shared import uscc

from approval.domain.catalogue import Catalogue, Kind, Risk
from approval.domain.errors import InvalidConfiguration

if TYPE_CHECKING:
    from approval.domain.application import Application


class Path(StrEnum):
    """How an application is decided; the rules differ between the two."""

    COMMITMENT = "commitment"
    STANDARD = "standard"


@dataclass(frozen=True)
class Rules:
    """The conditions, configurable; the defaults are the design's."""

    min_staff_per_field: int = 10  # full-time qualified staff a certification body needs per field
    min_registered_capital_rmb: int = 3_000_000  # a certification body's registered capital
    # The design fixes no number for labs; our default asks for one qualified person per field.
    lab_min_staff_per_field: int = 1
    high_risk_refuses_commitment: bool = True
    standard_decision_working_days: int = 20
    verification_days: int = 90  # calendar days from grant to the post-approval verification

    def __post_init__(self) -> None:
        for name in ("min_staff_per_field", "min_registered_capital_rmb", "lab_min_staff_per_field"):
            if getattr(self, name) < 0:
                raise InvalidConfiguration(f"{name} must not be negative", name)
        for name in ("standard_decision_working_days", "verification_days"):
            if getattr(self, name) < 1:
                raise InvalidConfiguration(f"{name} must be at least 1", name)


class Rule(StrEnum):
    """The code of each rule an application can fail."""

    ORGANISATION_USCC_INVALID = "organisation_uscc_invalid"
    ORGANISATION_NAME_MISSING = "organisation_name_missing"
    FIELDS_MISSING = "fields_missing"
    FIELD_UNKNOWN = "field_unknown"
    FIELD_KIND_MISMATCH = "field_kind_mismatch"
    FIELD_NOT_REQUESTED = "field_not_requested"
    COMMITMENT_HIGH_RISK = "commitment_refused_for_high_risk_field"
    COMMITMENT_TEXT_MISSING = "commitment_text_missing"
    PREMISES_MISSING = "premises_missing"
    MANAGEMENT_SYSTEM_MISSING = "management_system_missing"
    STAFF_MISSING = "staff_missing"
    STAFF_BELOW_MINIMUM = "staff_below_minimum"
    REGISTERED_CAPITAL_MISSING = "registered_capital_missing"
    REGISTERED_CAPITAL_BELOW_MINIMUM = "registered_capital_below_minimum"


# What acceptance on the standard path checks: the application is complete and well-formed;
# whether the facts meet the thresholds is the review's question.
COMPLETENESS_RULES: frozenset[Rule] = frozenset(
    {
        Rule.ORGANISATION_USCC_INVALID,
        Rule.ORGANISATION_NAME_MISSING,
        Rule.FIELDS_MISSING,
        Rule.FIELD_UNKNOWN,
        Rule.FIELD_KIND_MISMATCH,
        Rule.FIELD_NOT_REQUESTED,
        Rule.COMMITMENT_TEXT_MISSING,
        Rule.PREMISES_MISSING,
        Rule.MANAGEMENT_SYSTEM_MISSING,
        Rule.STAFF_MISSING,
        Rule.REGISTERED_CAPITAL_MISSING,
    }
)


@dataclass(frozen=True)
class RuleFailure:
    """One failed rule: its code, the path of the offending input, and why."""

    code: Rule
    field: str  # e.g. "declared.staff_per_field.CCC-07"
    message: str

    @property
    def is_completeness(self) -> bool:
        return self.code in COMPLETENESS_RULES

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.code.value, "field": self.field, "detail": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> RuleFailure:
        return cls(Rule(data["rule"]), data["field"], data["detail"])


@dataclass(frozen=True)
class Declared:
    """The facts the applicant declares (and, on the commitment path, signs for)."""

    staff_per_field: Mapping[str, int] = field(default_factory=dict)  # full-time qualified staff
    registered_capital_rmb: int | None = None
    premises: str | None = None
    management_system: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "staff_per_field", MappingProxyType(dict(self.staff_per_field)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Declared:
        return cls(
            staff_per_field=dict(data.get("staff_per_field") or {}),
            registered_capital_rmb=data.get("registered_capital_rmb"),
            premises=data.get("premises"),
            management_system=data.get("management_system"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "staff_per_field": dict(self.staff_per_field),
            "registered_capital_rmb": self.registered_capital_rmb,
            "premises": self.premises,
            "management_system": self.management_system,
        }


def _blank(text: str | None) -> bool:
    return text is None or not str(text).strip()


def _check(
    application: Application,
    catalogue: Catalogue,
    rules: Rules,
    fields: Collection[str],
    *,
    commitment: bool,
) -> list[RuleFailure]:
    failures: list[RuleFailure] = []

    def fail(code: Rule, path: str, message: str) -> None:
        failures.append(RuleFailure(code, path, message))

    try:
        uscc.validate(application.organisation_uscc)
    except uscc.InvalidUSCC as exc:
        fail(Rule.ORGANISATION_USCC_INVALID, "organisation_uscc", f"the Unified Social Credit Code {exc}")
    if _blank(application.organisation_name):
        fail(Rule.ORGANISATION_NAME_MISSING, "organisation_name", "the organisation's name is required")

    is_body = application.kind is Kind.CERTIFICATION_BODY
    if not fields:
        fail(Rule.FIELDS_MISSING, "requested_fields", "at least one field must be requested")
    for code in fields:
        path = f"requested_fields.{code}"
        if code not in application.requested_fields:
            fail(Rule.FIELD_NOT_REQUESTED, path, f"{code} was not requested in this application")
            continue
        known = catalogue.get(code)
        if known is None:
            fail(Rule.FIELD_UNKNOWN, path, f"{code} is not in the field catalogue")
            continue
        if known.kind is not application.kind:
            fail(Rule.FIELD_KIND_MISMATCH, path,
                 f"{code} ({known.name}) is a field for a {known.kind.value}, not a {application.kind.value}")
        if commitment and rules.high_risk_refuses_commitment and known.risk is Risk.HIGH:
            fail(Rule.COMMITMENT_HIGH_RISK, path,
                 f"{code} ({known.name}) is high risk: it cannot use the commitment path, apply on the standard path")

    if commitment and _blank(application.commitment_text):
        fail(Rule.COMMITMENT_TEXT_MISSING, "commitment_text",
             "the commitment path needs the commitment text signed by the applicant")

    declared = application.declared
    if _blank(declared.premises):
        fail(Rule.PREMISES_MISSING, "declared.premises", "the premises must be declared")
    if _blank(declared.management_system):
        fail(Rule.MANAGEMENT_SYSTEM_MISSING, "declared.management_system", "the management system must be declared")

    minimum = rules.min_staff_per_field if is_body else rules.lab_min_staff_per_field
    for code in fields:
        path = f"declared.staff_per_field.{code}"
        staff = declared.staff_per_field.get(code)
        if staff is None:
            fail(Rule.STAFF_MISSING, path, f"the full-time qualified staff for {code} must be declared")
        elif staff < minimum:
            fail(Rule.STAFF_BELOW_MINIMUM, path,
                 f"{code} needs at least {minimum} full-time qualified staff, {staff} declared")

    if is_body:
        capital = declared.registered_capital_rmb
        path = "declared.registered_capital_rmb"
        if capital is None:
            fail(Rule.REGISTERED_CAPITAL_MISSING, path, "a certification body must declare its registered capital")
        elif capital < rules.min_registered_capital_rmb:
            fail(Rule.REGISTERED_CAPITAL_BELOW_MINIMUM, path,
                 f"a certification body needs registered capital of at least RMB {rules.min_registered_capital_rmb:,}, "
                 f"RMB {capital:,} declared")
    return failures


def check_application(application: Application, catalogue: Catalogue, rules: Rules) -> list[RuleFailure]:
    """Every rule the application fails (empty when it may be granted), in a stable order.

    Completeness (organisation, fields in the catalogue and fitting the applicant's kind,
    premises, management system, staff per field, and on the commitment path the signed
    commitment) and the thresholds: no high-risk field on the commitment path; for a
    certification body at least ``min_staff_per_field`` full-time qualified staff per
    field and registered capital of at least ``min_registered_capital_rmb``.
    """
    return _check(
        application, catalogue, rules, application.requested_fields,
        commitment=application.path is Path.COMMITMENT,
    )
