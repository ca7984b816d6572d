"""The conditions an application must meet, configurable, and the check that lists every
rule an application fails (not only the first).

The check is split by what it looks at: the organisation, the requested fields, the signed
commitment, the declared premises and management system, the staff per field and the
registered capital. Their failures are listed in that order, field by field.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from conformity_shared import uscc

from approval.domain.catalogue import Catalogue, Kind, Risk, ScopeField
from approval.domain.errors import InvalidConfiguration
from approval.domain.values import Declared, Path, Rule, RuleFailure, is_blank


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

    def min_staff_for(self, kind: Kind) -> int:
        """Full-time qualified staff needed per field: a certification body's minimum or a lab's."""
        return self.min_staff_per_field if kind is Kind.CERTIFICATION_BODY else self.lab_min_staff_per_field


class ApplicationFacts(Protocol):
    """What the rules read of an application (an ``Application`` has all of it)."""

    organisation_uscc: str
    organisation_name: str
    kind: Kind
    path: Path
    requested_fields: tuple[str, ...]
    declared: Declared
    commitment_text: str | None


def check_application(application: ApplicationFacts, catalogue: Catalogue, rules: Rules) -> list[RuleFailure]:
    """Every rule the application fails (empty when it may be granted), in a stable order.

    Completeness (organisation, fields in the catalogue and fitting the applicant's kind,
    premises, management system, staff per field, and on the commitment path the signed
    commitment) and the thresholds: no high-risk field on the commitment path; for a
    certification body at least ``min_staff_per_field`` full-time qualified staff per
    field and registered capital of at least ``min_registered_capital_rmb``.
    """
    commitment = application.path is Path.COMMITMENT
    return _failures(application, catalogue, rules, application.requested_fields, commitment=commitment)


def check_grant(
    application: ApplicationFacts, fields: Collection[str], catalogue: Catalogue, rules: Rules
) -> list[RuleFailure]:
    """Every rule a regulator's grant of ``fields`` fails: each must have been requested and
    meet the rules (a grant is a standard-path decision: no commitment rule applies)."""
    return _failures(application, catalogue, rules, fields, commitment=False)


def _failures(
    application: ApplicationFacts, catalogue: Catalogue, rules: Rules, fields: Collection[str], *, commitment: bool
) -> list[RuleFailure]:
    return [
        *check_organisation(application),
        *check_fields(application, fields, catalogue, rules, commitment=commitment),
        *(check_commitment(application) if commitment else []),
        *check_declared_facts(application.declared),
        *check_staff(application, fields, rules),
        *check_capital(application, rules),
    ]


def check_organisation(application: ApplicationFacts) -> list[RuleFailure]:
    """The organisation: a valid Unified Social Credit Code (GB 32100) and a name."""
    failures = []
    try:
        uscc.validate(application.organisation_uscc)
    except uscc.InvalidUSCC as exc:
        failures.append(
            RuleFailure(Rule.ORGANISATION_USCC_INVALID, "organisation_uscc", f"the Unified Social Credit Code {exc}")
        )
    if is_blank(application.organisation_name):
        failures.append(
            RuleFailure(Rule.ORGANISATION_NAME_MISSING, "organisation_name", "the organisation's name is required")
        )
    return failures


def check_fields(
    application: ApplicationFacts,
    fields: Collection[str],
    catalogue: Catalogue,
    rules: Rules,
    *,
    commitment: bool,
) -> list[RuleFailure]:
    """At least one field; each one requested, in the catalogue, for the applicant's kind and,
    on the commitment path, not high risk."""
    failures = []
    if not fields:
        failures.append(RuleFailure(Rule.FIELDS_MISSING, "requested_fields", "at least one field must be requested"))
    for code in fields:
        failures += check_field(application, code, catalogue, rules, commitment=commitment)
    return failures


def check_field(
    application: ApplicationFacts, code: str, catalogue: Catalogue, rules: Rules, *, commitment: bool
) -> list[RuleFailure]:
    """One field: requested in this application, known to the catalogue, of the applicant's
    kind, and not high risk on the commitment path (where the rules refuse that)."""
    path = f"requested_fields.{code}"
    if code not in application.requested_fields:
        return [RuleFailure(Rule.FIELD_NOT_REQUESTED, path, f"{code} was not requested in this application")]
    known = catalogue.get(code)
    if known is None:
        return [RuleFailure(Rule.FIELD_UNKNOWN, path, f"{code} is not in the field catalogue")]
    failures = []
    if known.kind is not application.kind:
        failures.append(RuleFailure(
            Rule.FIELD_KIND_MISMATCH, path,
            f"{code} ({known.name}) is a field for a {known.kind.value}, not a {application.kind.value}",
        ))
    if commitment and refuses_commitment(known, rules):
        failures.append(RuleFailure(
            Rule.COMMITMENT_HIGH_RISK, path,
            f"{code} ({known.name}) is high risk: it cannot use the commitment path, apply on the standard path",
        ))
    return failures


def refuses_commitment(known: ScopeField, rules: Rules) -> bool:
    """A high-risk field goes through the standard path (unless the rules allow otherwise)."""
    return rules.high_risk_refuses_commitment and known.risk is Risk.HIGH


def check_commitment(application: ApplicationFacts) -> list[RuleFailure]:
    """The commitment path needs the commitment text the applicant signed."""
    if not is_blank(application.commitment_text):
        return []
    return [RuleFailure(Rule.COMMITMENT_TEXT_MISSING, "commitment_text",
                        "the commitment path needs the commitment text signed by the applicant")]


def check_declared_facts(declared: Declared) -> list[RuleFailure]:
    """The premises and the management system must be declared."""
    failures = []
    if is_blank(declared.premises):
        failures.append(RuleFailure(Rule.PREMISES_MISSING, "declared.premises", "the premises must be declared"))
    if is_blank(declared.management_system):
        failures.append(RuleFailure(Rule.MANAGEMENT_SYSTEM_MISSING, "declared.management_system",
                                    "the management system must be declared"))
    return failures


def check_staff(application: ApplicationFacts, fields: Collection[str], rules: Rules) -> list[RuleFailure]:
    """Full-time qualified staff declared for every field, at least the minimum of the applicant's kind."""
    minimum = rules.min_staff_for(application.kind)
    failures = []
    for code in fields:
        path = f"declared.staff_per_field.{code}"
        staff = application.declared.staff_per_field.get(code)
        if staff is None:
            failures.append(
                RuleFailure(Rule.STAFF_MISSING, path, f"the full-time qualified staff for {code} must be declared")
            )
        elif staff < minimum:
            failures.append(RuleFailure(Rule.STAFF_BELOW_MINIMUM, path,
                                        f"{code} needs at least {minimum} full-time qualified staff, {staff} declared"))
    return failures


def check_capital(application: ApplicationFacts, rules: Rules) -> list[RuleFailure]:
    """A certification body declares registered capital of at least the minimum; a lab need not."""
    if application.kind is not Kind.CERTIFICATION_BODY:
        return []
    capital = application.declared.registered_capital_rmb
    path = "declared.registered_capital_rmb"
    if capital is None:
        return [RuleFailure(Rule.REGISTERED_CAPITAL_MISSING, path,
                            "a certification body must declare its registered capital")]
    if capital < rules.min_registered_capital_rmb:
        return [RuleFailure(
            Rule.REGISTERED_CAPITAL_BELOW_MINIMUM, path,
            f"a certification body needs registered capital of at least RMB {rules.min_registered_capital_rmb:,}, "
            f"RMB {capital:,} declared",
        )]
    return []
