"""The refusals of the proficiency rules: each names the rule it applies and the field it
concerns, and answers with the HTTP status that rule calls for (409, 403 or 422)."""

from __future__ import annotations

from typing import ClassVar

from conformity_shared.errors import DomainError


class ProficiencyRuleViolation(DomainError):
    """A request the proficiency rules refuse; ``rule`` names the rule, ``refused_field`` the
    field of the request it concerns. The message ends with the rule."""

    rule: ClassVar[str] = ""
    refused_field: ClassVar[str] = ""

    def __init__(self, detail: str) -> None:
        rules = [{"rule": self.rule, "field": self.refused_field, "detail": detail}]
        super().__init__(f"{detail} (rule: {self.rule})", self.refused_field, rules)
        self.detail = detail


class InvalidInput(DomainError, ValueError):
    """A value ISO 13528 or the proficiency rules cannot work with (422), naming the field and
    the rule; still a ValueError, as the statistics' own checks are."""

    def __init__(self, message: str, field: str, rule: str) -> None:
        super().__init__(message, field, [{"rule": rule, "field": field, "detail": message}])
