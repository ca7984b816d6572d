"""The application and its two paths: granted on the spot on a signed commitment, or
accepted, then granted (in whole or in part) or rejected by a regulator within 20
working days of acceptance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from conformity_shared.errors import DomainError

from approval.domain.catalogue import Catalogue, Kind
from approval.domain.errors import ApplicationRefused, DecisionRefused, IllegalTransition, WorkingDayCalendarMissing
from approval.domain.lifecycle import Approval
from approval.domain.rules import Rules, check_application, check_grant
from approval.domain.values import Declared, Path, RuleFailure
from approval.domain.verification import Verification
from approval.domain.working_days import WorkingCalendar, deadline_passed


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"  # standard path: complete, under review, decision due
    GRANTED = "granted"
    REJECTED = "rejected"  # standard path: decided against, with reasons
    REFUSED = "refused"  # failed the rules: not granted on the spot, or not accepted


class ApplicationAction(StrEnum):
    """What is done to an application (the values read in messages: "cannot accept application ...")."""

    GRANT_ON_THE_SPOT = "grant on the spot"
    ACCEPT = "accept"
    GRANT = "grant"
    REJECT = "reject"


# action -> (the path it belongs to, the statuses it applies to, the status it leads to). An
# application that fails the rules when granted on the spot or accepted is REFUSED instead.
TRANSITIONS: Mapping[ApplicationAction, tuple[Path, frozenset[ApplicationStatus], ApplicationStatus]] = (
    MappingProxyType(
        {
            ApplicationAction.GRANT_ON_THE_SPOT: (
                Path.COMMITMENT, frozenset({ApplicationStatus.SUBMITTED}), ApplicationStatus.GRANTED
            ),
            ApplicationAction.ACCEPT: (Path.STANDARD, frozenset({ApplicationStatus.SUBMITTED}), ApplicationStatus.ACCEPTED),
            ApplicationAction.GRANT: (Path.STANDARD, frozenset({ApplicationStatus.ACCEPTED}), ApplicationStatus.GRANTED),
            ApplicationAction.REJECT: (Path.STANDARD, frozenset({ApplicationStatus.ACCEPTED}), ApplicationStatus.REJECTED),
        }
    )
)


class Decision(StrEnum):
    """A regulator's decision on an accepted standard-path application."""

    GRANT = "grant"
    REJECT = "reject"


@dataclass
class Application:
    id: str
    organisation_uscc: str
    organisation_name: str
    kind: Kind
    path: Path
    requested_fields: tuple[str, ...]
    declared: Declared
    commitment_text: str | None
    submitted_at: dt.datetime
    status: ApplicationStatus = ApplicationStatus.SUBMITTED
    failed_rules: list[RuleFailure] = field(default_factory=list)
    accepted_on: dt.date | None = None
    decision_due: dt.date | None = None
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decision_reasons: list[str] = field(default_factory=list)
    approval_id: str | None = None

    def __post_init__(self) -> None:
        self.kind = _parse(Kind, self.kind, "kind")
        self.path = _parse(Path, self.path, "path")
        self.status = ApplicationStatus(self.status)
        self.requested_fields = tuple(dict.fromkeys(self.requested_fields))  # duplicates collapse, order kept
        if isinstance(self.declared, Mapping):
            self.declared = Declared.from_mapping(self.declared)
        self.failed_rules = [RuleFailure.from_dict(f) if isinstance(f, Mapping) else f for f in self.failed_rules]

    @classmethod
    def submit(
        cls,
        *,
        id: str,  # noqa: A002
        organisation_uscc: str,
        organisation_name: str,
        kind: Kind | str,
        path: Path | str,
        requested_fields: Iterable[str],
        declared: Declared | Mapping[str, Any],
        commitment_text: str | None = None,
        at: dt.datetime,
    ) -> Application:
        return cls(
            id=id, organisation_uscc=organisation_uscc, organisation_name=organisation_name, kind=kind, path=path,
            requested_fields=tuple(requested_fields), declared=declared, commitment_text=commitment_text,
            submitted_at=at,
        )

    # --- commitment path --------------------------------------------------------------

    def grant_on_the_spot(
        self,
        catalogue: Catalogue,
        rules: Rules,
        *,
        approval_id: str,
        verification_id: str,
        at: dt.datetime,
        on: dt.date,
    ) -> tuple[Approval, Verification]:
        """Grant in the same request when the commitment-path application passes every rule.

        ``at`` is the instant of the grant, ``on`` the regulator's day of it (the post-approval
        verification is due ``verification_days`` after that day). On failure the application
        is marked refused with every failed rule and ``ApplicationRefused`` is raised: a service
        that keeps refused applications saves it before re-raising, one that does not lets the
        transaction roll back.
        """
        self._expect(ApplicationAction.GRANT_ON_THE_SPOT)
        failures = check_application(self, catalogue, rules)
        if failures:
            self._refuse(failures, at)
            raise ApplicationRefused(failures)
        approval = self._approval(approval_id, self.requested_fields, at,
                                  "granted on the spot on the applicant's signed commitment")
        self._decide(ApplicationAction.GRANT_ON_THE_SPOT, at, None, [])
        self.approval_id = approval.id
        return approval, Verification.schedule(id=verification_id, approval=approval, on=on, rules=rules)

    # --- standard path ----------------------------------------------------------------

    def accept(
        self,
        catalogue: Catalogue,
        rules: Rules,
        *,
        on: dt.date,
        at: dt.datetime,
        calendar: WorkingCalendar,
    ) -> dt.date:
        """Accept a complete standard-path application on the regulator's day ``on`` (instant
        ``at``); returns the decision deadline.

        The decision is due ``standard_decision_working_days`` working days after the day of
        acceptance (which does not count). An incomplete application is refused (not
        accepted) with every missing item. Threshold failures do not stop acceptance; they
        are kept in ``failed_rules`` for the reviewer. A deadline that runs into a year with no
        working-day calendar raises ``WorkingDayCalendarMissing`` and leaves the application
        unchanged (submitted), to be accepted once that year's calendar is loaded.
        """
        self._expect(ApplicationAction.ACCEPT)
        failures = check_application(self, catalogue, rules)
        incomplete = [f for f in failures if f.is_completeness]
        if incomplete:
            self._refuse(incomplete, at)
            raise ApplicationRefused(incomplete, "application not accepted, it is incomplete")
        due = _decision_due(on, rules.standard_decision_working_days, calendar)
        self.status = TRANSITIONS[ApplicationAction.ACCEPT][2]
        self.failed_rules = failures
        self.accepted_on = on
        self.decision_due = due
        return self.decision_due

    def grant(
        self,
        fields: Iterable[str],
        catalogue: Catalogue,
        rules: Rules,
        *,
        approval_id: str,
        at: dt.datetime,
        actor: str,
        reasons: Iterable[str] = (),
    ) -> Approval:
        """A regulator grants the accepted application in all or some of the requested fields.

        The granted fields must meet the rules; granting fewer fields than requested needs
        reasons for the others.
        """
        self._expect(ApplicationAction.GRANT)
        codes = tuple(dict.fromkeys(fields))
        reasons = _stated(reasons)
        failures = check_grant(self, codes, catalogue, rules)
        if failures:
            raise DecisionRefused(failures)
        if set(codes) != set(self.requested_fields) and not reasons:
            raise DomainError("granting only some of the requested fields needs reasons for the others", "reasons")
        reason = "granted by the regulator's decision" + (f": {'; '.join(reasons)}" if reasons else "")
        approval = self._approval(approval_id, codes, at, reason, actor)
        self._decide(ApplicationAction.GRANT, at, actor, reasons)
        self.approval_id = approval.id
        return approval

    def reject(self, reasons: Iterable[str], *, at: dt.datetime, actor: str) -> None:
        """A regulator rejects the accepted application; a rejection states its reasons."""
        self._expect(ApplicationAction.REJECT)
        reasons = _stated(reasons)
        if not reasons:
            raise DomainError("a rejection needs at least one reason", "reasons")
        self._decide(ApplicationAction.REJECT, at, actor, reasons)

    def is_overdue(self, today: dt.date) -> bool:
        """Accepted, undecided, and past its decision deadline."""
        return (
            self.status is ApplicationStatus.ACCEPTED
            and self.decision_due is not None
            and deadline_passed(self.decision_due, today)
        )

    def working_days_left(self, today: dt.date, calendar: WorkingCalendar) -> int | None:
        """Working days from ``today`` (excluded) to the deadline; negative once overdue."""
        if self.decision_due is None:
            return None
        return calendar.working_days_between(today, self.decision_due)

    # --- internals ----------------------------------------------------------------------

    def _expect(self, action: ApplicationAction) -> None:
        path, allowed_from, _ = TRANSITIONS[action]
        if self.path is not path:
            raise IllegalTransition(f"application {self.id}", action.value, f"on the {self.path.value} path",
                                    f"this step belongs to the {path.value} path")
        if self.status not in allowed_from:
            expected = " or ".join(sorted(s.value for s in allowed_from))
            raise IllegalTransition(f"application {self.id}", action.value, self.status.value,
                                    f"only a {expected} application can be handled this way")

    def _approval(
        self, approval_id: str, fields: Iterable[str], at: dt.datetime, reason: str, actor: str | None = None
    ) -> Approval:
        return Approval.grant(
            id=approval_id, organisation_uscc=self.organisation_uscc, organisation_name=self.organisation_name,
            kind=self.kind, path=self.path, application_id=self.id, fields=fields, at=at, reason=reason, actor=actor,
        )

    def _refuse(self, failures: list[RuleFailure], at: dt.datetime) -> None:
        self.status = ApplicationStatus.REFUSED
        self.failed_rules = list(failures)
        self.decided_at = at

    def _decide(self, action: ApplicationAction, at: dt.datetime, actor: str | None, reasons: list[str]) -> None:
        self.status = TRANSITIONS[action][2]
        self.decided_at = at
        self.decided_by = actor
        self.decision_reasons = reasons


def overdue_applications(applications: Iterable[Application], today: dt.date) -> list[Application]:
    """Accepted standard-path applications whose decision deadline has passed, oldest first."""
    late = [a for a in applications if a.is_overdue(today)]
    return sorted(late, key=lambda a: (a.decision_due, a.id))


def _decision_due(accepted_on: dt.date, working_days: int, calendar: WorkingCalendar) -> dt.date:
    try:
        return calendar.add_working_days(accepted_on, working_days)
    except WorkingDayCalendarMissing as missing:
        raise missing.counting(
            f"the decision deadline ({working_days} working days after acceptance on {accepted_on})", "decision_due"
        ) from None


def _stated(reasons: Iterable[str]) -> list[str]:
    """The reasons given, trimmed, without empty ones."""
    return [r.strip() for r in reasons if r and r.strip()]


def _parse(enum: type[StrEnum], value: object, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise DomainError(f"{name} must be one of {allowed}, is {value!r}", name) from None
