"""Why the rules refuse a request: the errors the domain raises, with their HTTP status."""

from __future__ import annotations

from collections.abc import Iterable

from conformity_shared.errors import Conflict, DomainError, Forbidden

from approval.domain.values import RuleFailure


class ApplicationRefused(DomainError):
    """The rules refuse an application; ``failures`` lists every failed rule (HTTP 422)."""

    def __init__(self, failures: Iterable[RuleFailure], summary: str = "application refused") -> None:
        self.failures = list(failures)
        codes = ", ".join(f.code for f in self.failures)
        super().__init__(
            f"{summary}: {len(self.failures)} rule(s) failed: {codes}",
            self.failures[0].field if len(self.failures) == 1 else None,
            [f.as_dict() for f in self.failures],
        )
        self.application_id: str | None = None  # set when the refused application is kept

    def body(self) -> dict[str, object]:
        body = super().body()
        if self.application_id:
            body["application_id"] = self.application_id
        return body


class DecisionRefused(ApplicationRefused):
    """A regulator's grant that the rules do not allow (e.g. a field below the staff minimum)."""

    def __init__(self, failures: Iterable[RuleFailure]) -> None:
        super().__init__(failures, "decision refused")


class IllegalTransition(Conflict):
    """A change the lifecycle does not allow, e.g. reinstating a revoked approval (HTTP 409)."""

    def __init__(self, what: str, action: str, current: str, rule: str) -> None:
        super().__init__(f"cannot {action} {what}: {rule} (it is {current})", field="status")
        self.action = action
        self.current = current
        self.rule = rule


class NotTheAssignedInspector(Forbidden):
    """Only the inspector the regulator assigned records a verification (HTTP 403)."""

    def __init__(self, inspector_id: str | None, verification_id: str) -> None:
        super().__init__(f"inspector {inspector_id} is not assigned to verification {verification_id}")


class InvalidConfiguration(DomainError):
    """A catalogue or rule set that cannot be used."""

    def __init__(self, message: str, field: str = "configuration") -> None:
        super().__init__(message, field)


class WorkingDayCalendarMissing(DomainError):
    """Working days counted through a year whose holiday calendar is not loaded (HTTP 422).

    Weekends alone would count New Year's Day or the Spring Festival week as working days,
    so the count is refused, naming the year, until the State Council's notice for it is
    loaded; nothing is changed meanwhile, and the same request succeeds once it is.
    """

    RULE = "working_day_calendar_missing"

    def __init__(self, year: int, counted: str = "working days", field: str = "working_days") -> None:
        self.year = year
        detail = (
            f"{counted} cannot be counted through {year}: no working-day calendar for {year} is loaded "
            f"(the State Council's holiday notice for {year} is to be added by the regulator)"
        )
        super().__init__(detail, field, [{"rule": self.RULE, "detail": detail}])

    def counting(self, counted: str, field: str) -> WorkingDayCalendarMissing:
        """The same refusal, saying what was being counted and which answer field it concerns."""
        return WorkingDayCalendarMissing(self.year, counted, field)


class MalformedWorkingDayCalendar(InvalidConfiguration):
    """A year's calendar the service cannot use: it stops the service at start, naming the year
    and every rule the calendar breaks."""

    def __init__(self, year: int, source: str, problems: Iterable[tuple[str, str]]) -> None:
        self.year = year
        self.problems = list(problems)
        listed = "; ".join(f"{rule}: {detail}" for rule, detail in self.problems)
        named = f" ({source})" if source else ""
        super().__init__(f"working-day calendar for {year}{named} refused: {listed}", "working_day_calendars")
        self.rules = [{"rule": rule, "detail": detail} for rule, detail in self.problems]
