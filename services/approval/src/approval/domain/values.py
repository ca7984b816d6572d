"""The value types the domain's modules share: the application's path, the facts an applicant
declares, and the codes of the rules with the failures they report.

A leaf: it imports nothing else from the domain, so the modules that use these types
(``rules``, ``errors``, ``application``, ``lifecycle``, ``verification``) need not import
one another for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Path(StrEnum):
    """How an application is decided; the rules differ between the two."""

    COMMITMENT = "commitment"
    STANDARD = "standard"


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


def is_blank(text: str | None) -> bool:
    """A declaration, name or id left empty: None, "" or only spaces."""
    return text is None or not str(text).strip()
