"""The certificate and its lifecycle.

Lifecycle (every other move raises ``IllegalTransition``, HTTP 409)::

    valid     --suspend-->   suspended   (reason: spot check failed, surveillance overdue,
                                          issuing body revoked, holder request, misuse;
                                          deadline 6 months later by default)
    suspended --reinstate--> valid       (on or before the suspension deadline)
    valid, suspended --withdraw--> withdrawn   (also automatic once the deadline has passed)
    valid, suspended --cancel-->   cancelled   (at the holder's request)
    valid, suspended --expire-->   expired     (once the validity has ended)

``withdrawn``, ``cancelled`` and ``expired`` are final.

The domain never reads a clock: every transition receives ``at`` (the UTC instant it is
recorded with) and, where it decides on dates, ``today`` (the regulator's calendar date).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import Conflict, DomainError

from certificates.domain.schemes import (
    DEFAULT_SUSPENSION_MONTHS,
    CertificateNumber,
    Scheme,
    add_months,
    check_validity,
)


class Status(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


FINAL_STATUSES: frozenset[Status] = frozenset({Status.WITHDRAWN, Status.CANCELLED, Status.EXPIRED})


class SuspensionReason(StrEnum):
    SPOT_CHECK_FAILED = "spot_check_failed"
    SURVEILLANCE_OVERDUE = "surveillance_overdue"
    ISSUING_BODY_REVOKED = "issuing_body_revoked"
    HOLDER_REQUEST = "holder_request"
    MISUSE = "misuse"


class Action(StrEnum):
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    WITHDRAW = "withdraw"
    CANCEL = "cancel"
    EXPIRE = "expire"

    @property
    def past(self) -> str:
        """The participle the rules speak in: "can be suspended"."""
        return _PAST[self]


_PAST = {Action.SUSPEND: "suspended", Action.REINSTATE: "reinstated", Action.WITHDRAW: "withdrawn",
         Action.CANCEL: "cancelled", Action.EXPIRE: "expired"}

# The statuses each action may start from, and where it leads.
TRANSITIONS: Mapping[Action, tuple[frozenset[Status], Status]] = MappingProxyType(
    {
        Action.SUSPEND: (frozenset({Status.VALID}), Status.SUSPENDED),
        Action.REINSTATE: (frozenset({Status.SUSPENDED}), Status.VALID),
        Action.WITHDRAW: (frozenset({Status.VALID, Status.SUSPENDED}), Status.WITHDRAWN),
        Action.CANCEL: (frozenset({Status.VALID, Status.SUSPENDED}), Status.CANCELLED),
        Action.EXPIRE: (frozenset({Status.VALID, Status.SUSPENDED}), Status.EXPIRED),
    }
)


def allowed_from(action: Action) -> frozenset[Status]:
    """The statuses ``action`` may start from (the transition table's first column)."""
    return TRANSITIONS[action][0]


# A revoked approval suspends every certificate its body issued that the lifecycle lets be
# suspended (DESIGN flow 3); the bulk revocation selects its certificates by these statuses.
SUSPENDED_ON_REVOCATION: frozenset[Status] = allowed_from(Action.SUSPEND)
# Only a suspension has a deadline; a passed validity ends whatever expiry may start from.
WITHDRAWN_AT_DEADLINE: frozenset[Status] = frozenset({Status.SUSPENDED})
EXPIRED_AFTER_VALIDITY: frozenset[Status] = allowed_from(Action.EXPIRE)


class IllegalTransition(Conflict):
    """A transition the lifecycle does not allow; the message says which rule (HTTP 409)."""

    def __init__(self, number: str, action: Action, current: Status, rule: str) -> None:
        super().__init__(f"cannot {action} certificate {number}: {rule}", field="status")
        self.number = number
        self.action = action
        self.current = current
        self.rule = rule


@dataclass(frozen=True)
class HistoryEntry:
    """One transition: from, to, why, and who or which event caused it."""

    from_status: Status | None  # None for the issuance
    to_status: Status
    reason: str
    actor: str | None
    cause_event_id: str | None
    at: dt.datetime
    note: str | None = None


def _require_reason(reason: str) -> str:
    if not reason or not str(reason).strip():
        raise DomainError("every transition needs a reason (it is kept in the history)", "reason")
    return str(reason).strip()


def _suspension_reason(reason: SuspensionReason | str) -> SuspensionReason:
    try:
        return SuspensionReason(reason)
    except ValueError:
        allowed = ", ".join(r.value for r in SuspensionReason)
        raise DomainError(f"a suspension reason is one of {allowed}, is {reason!r}", "reason") from None


def suspension_deadline(today: dt.date, months: int, until: dt.date | None = None) -> dt.date:
    """The last day of a suspension starting ``today``: ``until``, or ``months`` later."""
    if until is None:
        if months < 1:
            raise DomainError(f"a suspension lasts at least one month, {months} given", "months")
        return add_months(today, months)
    if until <= today:
        raise DomainError(f"the suspension deadline {until} must be after the suspension", "until")
    return until


AUTOMATIC = "system"  # the actor of transitions nobody requested (deadlines, expiry)


@dataclass
class Certificate:
    """A certificate. ``history`` holds the entries added since it was loaded (the service
    writes and clears them)."""

    number: str
    issuing_body_uscc: str
    holder_uscc: str
    holder_name: str
    scheme: str
    field: str
    product: str
    standard: str
    valid_from: dt.date
    valid_until: dt.date
    status: Status = Status.VALID
    suspension_reason: str | None = None
    suspended_until: dt.date | None = None
    suspended_by: str | None = None  # the spot check, revoked approval or holder request behind it
    history: list[HistoryEntry] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @classmethod
    def issue(
        cls,
        *,
        number: str,
        issuing_body_uscc: str,
        holder_uscc: str,
        holder_name: str,
        scheme: Scheme | str,
        field: str,
        product: str,
        standard: str,
        valid_from: dt.date,
        valid_until: dt.date,
        at: dt.datetime,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> Certificate:
        """A new valid certificate (call ``may_issue`` first)."""
        CertificateNumber.parse(number)
        check_validity(scheme, valid_from, valid_until)
        cert = cls(
            number=number, issuing_body_uscc=issuing_body_uscc, holder_uscc=holder_uscc, holder_name=holder_name,
            scheme=Scheme.parse(scheme).value, field=field, product=product, standard=standard,
            valid_from=valid_from, valid_until=valid_until,
        )
        cert.history.append(HistoryEntry(None, Status.VALID, "issued", actor, cause_event_id, at))
        return cert

    # --- transitions -----------------------------------------------------------------

    def suspend(
        self,
        reason: SuspensionReason | str,
        *,
        at: dt.datetime,
        today: dt.date,
        actor: str | None = None,
        cause_event_id: str | None = None,
        suspended_by: str | None = None,
        note: str | None = None,
        months: int = DEFAULT_SUSPENSION_MONTHS,
        until: dt.date | None = None,
    ) -> HistoryEntry:
        """Suspend a valid certificate until ``until`` (default: ``months`` after ``today``).

        ``suspended_by`` names what suspended it (the failed spot check's inspection id, the
        revoked approval, the holder's request) so that rectification of that spot check
        reinstates exactly the certificates it suspended.
        """
        code = _suspension_reason(reason)
        self._guard(Action.SUSPEND)
        until = suspension_deadline(today, months, until)
        entry = self._move(Status.SUSPENDED, code.value, actor, cause_event_id, at, note)
        self.suspension_reason = code.value
        self.suspended_until = until
        self.suspended_by = suspended_by
        return entry

    def reinstate(
        self,
        reason: str,
        *,
        at: dt.datetime,
        today: dt.date,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Make a suspended certificate valid again, up to its suspension deadline.

        Past the deadline the certificate is due for withdrawal, and past its validity for
        expiry; neither can be undone by a reinstatement.
        """
        reason = _require_reason(reason)
        self._guard(Action.REINSTATE)
        if self.suspended_until is not None and today > self.suspended_until:
            raise IllegalTransition(self.number, Action.REINSTATE, self.status,
                                    f"its suspension deadline {self.suspended_until} has passed, it is due for withdrawal")
        if today > self.valid_until:
            raise IllegalTransition(self.number, Action.REINSTATE, self.status,
                                    f"its validity ended on {self.valid_until}, it is due to expire")
        return self._move(Status.VALID, reason, actor, cause_event_id, at)

    def reinstate_after_rectification(
        self,
        spot_check_id: str,
        *,
        at: dt.datetime,
        today: dt.date,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Reinstate a certificate suspended by the spot check ``spot_check_id`` (DESIGN flow 2)."""
        if not self.is_suspended_by_spot_check(spot_check_id):
            self._guard(Action.REINSTATE)
            raise IllegalTransition(
                self.number, Action.REINSTATE, self.status,
                f"rectification of spot check {spot_check_id} reinstates only what that spot check suspended "
                f"(suspended for {self.suspension_reason} by {self.suspended_by})",
            )
        return self.reinstate(f"rectification verified for spot check {spot_check_id}", at=at, today=today,
                              actor=actor, cause_event_id=cause_event_id)

    def withdraw(
        self,
        reason: str,
        *,
        at: dt.datetime,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Withdraw (撤销) a valid or suspended certificate."""
        reason = _require_reason(reason)
        self._guard(Action.WITHDRAW)
        return self._move(Status.WITHDRAWN, reason, actor, cause_event_id, at)

    def withdraw_after_deadline(
        self,
        *,
        at: dt.datetime,
        today: dt.date,
        actor: str | None = AUTOMATIC,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Withdraw a suspended certificate whose suspension deadline has passed (DESIGN flow 5)."""
        if self.status not in WITHDRAWN_AT_DEADLINE:
            self._guard(Action.WITHDRAW)  # final statuses say why
            raise IllegalTransition(self.number, Action.WITHDRAW, self.status,
                                    "only a suspended certificate is withdrawn at its suspension deadline")
        if self.suspended_until is None or today <= self.suspended_until:
            raise IllegalTransition(self.number, Action.WITHDRAW, self.status,
                                    f"its suspension deadline {self.suspended_until} has not passed on {today}")
        reason = f"suspension deadline {self.suspended_until} passed without reinstatement"
        return self._move(Status.WITHDRAWN, reason, actor, cause_event_id, at)

    def cancel(
        self,
        reason: str,
        *,
        at: dt.datetime,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Cancel (注销) a valid or suspended certificate at the holder's request."""
        reason = _require_reason(reason)
        self._guard(Action.CANCEL)
        return self._move(Status.CANCELLED, reason, actor, cause_event_id, at)

    def expire(
        self,
        *,
        at: dt.datetime,
        today: dt.date,
        actor: str | None = AUTOMATIC,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Expire a valid or suspended certificate once its last day of validity has passed."""
        self._guard(Action.EXPIRE)
        if today <= self.valid_until:
            raise IllegalTransition(self.number, Action.EXPIRE, self.status,
                                    f"it is valid until {self.valid_until} (today is {today})")
        return self._move(Status.EXPIRED, f"validity ended on {self.valid_until}", actor, cause_event_id, at)

    # --- time-based rules ----------------------------------------------------------

    def due_transition(self, today: dt.date) -> Status | None:
        """What time alone does to the certificate on ``today``: WITHDRAWN when its suspension
        deadline has passed, EXPIRED when its validity has ended, else None.

        When both have passed, the one that passed first wins; on the same day, withdrawal
        (a sanction must not be lost to expiry).
        """
        if self.status in FINAL_STATUSES:
            return None
        deadline_passed = (
            self.status in WITHDRAWN_AT_DEADLINE and self.suspended_until is not None and today > self.suspended_until
        )
        validity_ended = today > self.valid_until
        if deadline_passed and (not validity_ended or self.suspended_until <= self.valid_until):  # type: ignore[operator]
            return Status.WITHDRAWN
        if validity_ended:
            return Status.EXPIRED
        return None

    def apply_due_transition(self, *, at: dt.datetime, today: dt.date) -> HistoryEntry | None:
        """Apply ``due_transition``; None when nothing is due."""
        match self.due_transition(today):
            case Status.WITHDRAWN:
                return self.withdraw_after_deadline(at=at, today=today)
            case Status.EXPIRED:
                return self.expire(at=at, today=today)
        return None

    def is_suspended_by_spot_check(self, spot_check_id: str) -> bool:
        return (
            self.status is Status.SUSPENDED
            and self.suspension_reason == SuspensionReason.SPOT_CHECK_FAILED.value
            and self.suspended_by == spot_check_id
        )

    # --- internals -------------------------------------------------------------------

    def _guard(self, action: Action) -> None:
        allowed = allowed_from(action)
        if self.status in allowed:
            return
        if self.status in FINAL_STATUSES:
            rule = f"a {self.status.value} certificate is final"
        elif action is Action.SUSPEND:
            rule = f"it is already suspended (until {self.suspended_until})"
        else:
            rule = f"only a {' or '.join(sorted(s.value for s in allowed))} certificate can be {action.past}"
        raise IllegalTransition(self.number, action, self.status, rule)

    def _move(
        self,
        to: Status,
        reason: str,
        actor: str | None,
        cause_event_id: str | None,
        at: dt.datetime,
        note: str | None = None,
    ) -> HistoryEntry:
        entry = HistoryEntry(self.status, to, reason, actor, cause_event_id, at, note)
        self.status = to
        if to is not Status.SUSPENDED:
            self.suspension_reason = self.suspended_until = self.suspended_by = None
        self.history.append(entry)
        return entry
