"""How a refusal reaches the client: the HTTP status, the field it concerns and the rule."""

from __future__ import annotations

from conformity_shared.errors import Conflict, DomainError, Forbidden

from proficiency import domain

_REFUSALS: dict[type[domain.ProficiencyRuleViolation], tuple[type[DomainError], str]] = {
    domain.LateSubmission: (Conflict, "deadline"),
    domain.DuplicateSubmission: (Conflict, "lab_uscc"),
    domain.LabNotEnrolled: (Forbidden, "lab_uscc"),
    domain.RoundClosed: (Conflict, "status"),
    domain.RoundStillOpen: (Conflict, "deadline"),
}


def refused(exc: domain.ProficiencyRuleViolation) -> DomainError:
    kind, field = _REFUSALS[type(exc)]
    return naming(kind(str(exc)), field, exc.rule, exc.detail)


def naming(error: DomainError, field: str, rule: str, detail: str) -> DomainError:
    """The error with the field and the rule it breaks (Conflict and Forbidden take neither)."""
    error.field = field
    error.rules = [{"rule": rule, "field": field, "detail": detail}]
    return error


def invalid(exc: ValueError, field: str, rule: str) -> DomainError:
    return DomainError(str(exc), field, [{"rule": rule, "field": field, "detail": str(exc)}])
