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

