"""Certificate rules: schemes and their validity, the certificate number, the certificate
lifecycle, and whether a body may issue in a field.

Pure Python, no I/O. The service layer loads a ``Certificate``, calls one transition,
saves the new state with the history entries it gained and emits the matching event.

Lifecycle (every other move raises ``IllegalTransition``, HTTP 409)::

    valid     --suspend-->   suspended   (reason: spot check failed, surveillance overdue,
                                          issuing body revoked, holder request, misuse;
                                          deadline 6 months later by default)
    suspended --reinstate--> valid       (on or before the suspension deadline)
    valid, suspended --withdraw--> withdrawn   (also automatic once the deadline has passed)
    valid, suspended --cancel-->   cancelled   (at the holder's request)
    valid, suspended --expire-->   expired     (once the validity has ended)

``withdrawn``, ``cancelled`` and ``expired`` are final.

Certificate number (one format for every scheme, 19 characters, no separators)::

    {scheme code: 3}{year: 4}{body code: 4}{sequence: 8}     e.g. MSC2026Y43000000042

- scheme code: CCC (CCC), VPC (voluntary product), MSC (management system), SVC (service);
- year: the year the validity starts;
- body code: the last four characters of the issuing body's USCC (GB 32100 alphabet);
- sequence: 8 digits from 00000001, allocated per prefix (scheme, year, body code).

The body code is a readable hint, not an identifier: two bodies can share it, and the
number stays unique because the sequence is allocated per prefix.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import Conflict, DomainError

# ==================================================================================
# Schemes, validity and the certificate number
# ==================================================================================


class UnknownScheme(DomainError):
    def __init__(self, value: object) -> None:
        allowed = ", ".join(s.value for s in Scheme)
        super().__init__(f"scheme must be one of {allowed}, is {value!r}", "scheme")


class Scheme(StrEnum):
    CCC = "CCC"  # China Compulsory Certification (products)
    VOLUNTARY_PRODUCT = "voluntary_product"
    MANAGEMENT_SYSTEM = "management_system"
    SERVICE = "service"

    @classmethod
    def parse(cls, value: str | Scheme) -> Scheme:
        """The scheme named by its value or member name, in any case; else UnknownScheme."""
        if isinstance(value, Scheme):
            return value
        text = str(value).strip()
        for scheme in cls:
            if text.casefold() in (scheme.value.casefold(), scheme.name.casefold()):
                return scheme
        raise UnknownScheme(value)

    @property
    def code(self) -> str:
        """The three letters that open its certificate numbers."""
        return SCHEME_CODES[self]


SCHEME_CODES: Mapping[Scheme, str] = MappingProxyType(
    {
        Scheme.CCC: "CCC",
        Scheme.VOLUNTARY_PRODUCT: "VPC",
        Scheme.MANAGEMENT_SYSTEM: "MSC",
        Scheme.SERVICE: "SVC",
    }
)
_SCHEME_BY_CODE = {code: scheme for scheme, code in SCHEME_CODES.items()}

# Default validity in years. CCC 5 and management systems 3 are the design's. Voluntary
# product certificates follow CCC (5, the usual term for product certification under
# annual surveillance); service certificates follow management systems (3, the usual
# term for certification of an organisation's processes under surveillance audits).
DEFAULT_VALIDITY_YEARS: Mapping[Scheme, int] = MappingProxyType(
    {
        Scheme.CCC: 5,
        Scheme.VOLUNTARY_PRODUCT: 5,
        Scheme.MANAGEMENT_SYSTEM: 3,
        Scheme.SERVICE: 3,
    }
)
DEFAULT_SUSPENSION_MONTHS = 6


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later; the month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_valid_until(
    scheme: Scheme | str,
    valid_from: dt.date,
    validity_years: Mapping[Scheme, int] | None = None,
) -> dt.date:
    """The last day of validity: the day before the anniversary ``years`` later.

    A 5-year CCC certificate valid from 10 March 2026 is valid until 9 March 2031. One
    starting on 29 February ends on 28 February (its anniversary is 1 March).
    """
    scheme = Scheme.parse(scheme)
    years = (validity_years or DEFAULT_VALIDITY_YEARS)[scheme]
    try:
        anniversary = valid_from.replace(year=valid_from.year + years)
    except ValueError:  # 29 February in a year that has none
        anniversary = dt.date(valid_from.year + years, 3, 1)
    return anniversary - dt.timedelta(days=1)


class InvalidCertificateNumber(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "number")


# GB 32100's alphabet: the body code is taken from a USCC.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_BODY = f"[{_USCC_ALPHABET}]{{4}}"
_SCHEMES = "|".join(SCHEME_CODES.values())
_PREFIX_RE = re.compile(rf"({_SCHEMES})(\d{{4}})({_BODY})")
_NUMBER_RE = re.compile(rf"({_SCHEMES})(\d{{4}})({_BODY})(\d{{8}})")
MAX_SEQUENCE = 99_999_999


def body_code(issuing_body_uscc: str) -> str:
    """The last four characters of the issuing body's USCC."""
    code = issuing_body_uscc.strip().upper()[-4:]
    if len(code) != 4 or any(c not in _USCC_ALPHABET for c in code):
        raise InvalidCertificateNumber(f"no body code can be taken from {issuing_body_uscc!r}: it is not a USCC")
    return code


def number_prefix(scheme: Scheme | str, year: int, issuing_body_uscc: str) -> str:
    """Scheme code, year and body code: the part of the number a sequence is kept for."""
    if not 1000 <= year <= 9999:
        raise InvalidCertificateNumber(f"the year must have four digits, is {year}")
    return f"{Scheme.parse(scheme).code}{year:04d}{body_code(issuing_body_uscc)}"


def certificate_number(prefix: str, sequence: int) -> str:
    """The full number: the prefix and the 8-digit sequence."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise InvalidCertificateNumber(f"{prefix!r} is not a number prefix (scheme code, year, body code)")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise InvalidCertificateNumber(f"the sequence must be 1 to {MAX_SEQUENCE}, is {sequence}")
    return f"{prefix}{sequence:08d}"


@dataclass(frozen=True)
class CertificateNumber:
    """A certificate number taken apart."""

    scheme: Scheme
    year: int
    body_code: str
    sequence: int

    @classmethod
    def parse(cls, text: str) -> CertificateNumber:
        """Parse a number (surrounding spaces and lower case tolerated); else InvalidCertificateNumber."""
        match = _NUMBER_RE.fullmatch(text.strip().upper()) if isinstance(text, str) else None
        if match is None:
            raise InvalidCertificateNumber(
                f"{text!r} is not a certificate number: 3-letter scheme code, 4-digit year, "
                "4-character body code and 8-digit sequence"
            )
        code, year, body, sequence = match.groups()
        if int(sequence) == 0:
            raise InvalidCertificateNumber(f"{text!r} is not a certificate number: sequences start at 00000001")
        return cls(_SCHEME_BY_CODE[code], int(year), body, int(sequence))

    @property
    def prefix(self) -> str:
        return f"{self.scheme.code}{self.year:04d}{self.body_code}"

    def __str__(self) -> str:
        return certificate_number(self.prefix, self.sequence)


def is_valid_certificate_number(text: str) -> bool:
    try:
        CertificateNumber.parse(text)
    except InvalidCertificateNumber:
        return False
    return True


# ==================================================================================
# The certificate and its lifecycle
# ==================================================================================


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


# The statuses each action may start from, and where it leads.
TRANSITIONS: Mapping[str, tuple[frozenset[Status], Status]] = MappingProxyType(
    {
        "suspend": (frozenset({Status.VALID}), Status.SUSPENDED),
        "reinstate": (frozenset({Status.SUSPENDED}), Status.VALID),
        "withdraw": (frozenset({Status.VALID, Status.SUSPENDED}), Status.WITHDRAWN),
        "cancel": (frozenset({Status.VALID, Status.SUSPENDED}), Status.CANCELLED),
        "expire": (frozenset({Status.VALID, Status.SUSPENDED}), Status.EXPIRED),
    }
)


class IllegalTransition(Conflict):
    """A transition the lifecycle does not allow; the message says which rule (HTTP 409)."""

    def __init__(self, number: str, action: str, current: Status, rule: str) -> None:
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
        if valid_until <= valid_from:
            raise DomainError("valid_until must be after valid_from", "valid_until")
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
        actor: str | None = None,
        cause_event_id: str | None = None,
        suspended_by: str | None = None,
        note: str | None = None,
        months: int = DEFAULT_SUSPENSION_MONTHS,
        until: dt.date | None = None,
    ) -> HistoryEntry:
        """Suspend a valid certificate until ``until`` (default: ``months`` after ``at``).

        ``suspended_by`` names what suspended it (the failed spot check's inspection id, the
        revoked approval, the holder's request) so that rectification of that spot check
        reinstates exactly the certificates it suspended.
        """
        try:
            code = SuspensionReason(reason)
        except ValueError:
            allowed = ", ".join(r.value for r in SuspensionReason)
            raise DomainError(f"a suspension reason is one of {allowed}, is {reason!r}", "reason") from None
        self._guard("suspend")
        if until is None:
            if months < 1:
                raise DomainError(f"a suspension lasts at least one month, {months} given", "months")
            until = add_months(at.date(), months)
        elif until <= at.date():
            raise DomainError(f"the suspension deadline {until} must be after the suspension", "until")
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
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Make a suspended certificate valid again, up to its suspension deadline.

        Past the deadline the certificate is due for withdrawal, and past its validity for
        expiry; neither can be undone by a reinstatement.
        """
        reason = _require_reason(reason)
        self._guard("reinstate")
        today = at.date()
        if self.suspended_until is not None and today > self.suspended_until:
            raise IllegalTransition(self.number, "reinstate", self.status,
                                    f"its suspension deadline {self.suspended_until} has passed, it is due for withdrawal")
        if today > self.valid_until:
            raise IllegalTransition(self.number, "reinstate", self.status,
                                    f"its validity ended on {self.valid_until}, it is due to expire")
        return self._move(Status.VALID, reason, actor, cause_event_id, at)

    def reinstate_after_rectification(
        self,
        spot_check_id: str,
        *,
        at: dt.datetime,
        actor: str | None = None,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Reinstate a certificate suspended by the spot check ``spot_check_id`` (DESIGN flow 2)."""
        if not self.is_suspended_by_spot_check(spot_check_id):
            self._guard("reinstate")
            raise IllegalTransition(
                self.number, "reinstate", self.status,
                f"rectification of spot check {spot_check_id} reinstates only what that spot check suspended "
                f"(suspended for {self.suspension_reason} by {self.suspended_by})",
            )
        return self.reinstate(f"rectification verified for spot check {spot_check_id}", at=at, actor=actor,
                              cause_event_id=cause_event_id)

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
        self._guard("withdraw")
        return self._move(Status.WITHDRAWN, reason, actor, cause_event_id, at)

    def withdraw_after_deadline(
        self,
        *,
        at: dt.datetime,
        today: dt.date | None = None,
        actor: str | None = AUTOMATIC,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Withdraw a suspended certificate whose suspension deadline has passed (DESIGN flow 5)."""
        today = today or at.date()
        if self.status is not Status.SUSPENDED:
            self._guard("withdraw")  # final statuses say why
            raise IllegalTransition(self.number, "withdraw", self.status,
                                    "only a suspended certificate is withdrawn at its suspension deadline")
        if self.suspended_until is None or today <= self.suspended_until:
            raise IllegalTransition(self.number, "withdraw", self.status,
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
        self._guard("cancel")
        return self._move(Status.CANCELLED, reason, actor, cause_event_id, at)

    def expire(
        self,
        *,
        at: dt.datetime,
        today: dt.date | None = None,
        actor: str | None = AUTOMATIC,
        cause_event_id: str | None = None,
    ) -> HistoryEntry:
        """Expire a valid or suspended certificate once its last day of validity has passed."""
        today = today or at.date()
        self._guard("expire")
        if today <= self.valid_until:
            raise IllegalTransition(self.number, "expire", self.status,
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
            self.status is Status.SUSPENDED and self.suspended_until is not None and today > self.suspended_until
        )
        validity_ended = today > self.valid_until
        if deadline_passed and (not validity_ended or self.suspended_until <= self.valid_until):  # type: ignore[operator]
            return Status.WITHDRAWN
        if validity_ended:
            return Status.EXPIRED
        return None

    def apply_due_transition(self, *, at: dt.datetime, today: dt.date | None = None) -> HistoryEntry | None:
        """Apply ``due_transition``; None when nothing is due."""
        today = today or at.date()
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

    def _guard(self, action: str) -> None:
        allowed_from, _ = TRANSITIONS[action]
        if self.status in allowed_from:
            return
        if self.status in FINAL_STATUSES:
            rule = f"a {self.status.value} certificate is final"
        elif action == "suspend":
            rule = f"it is already suspended (until {self.suspended_until})"
        else:
            rule = f"only a {' or '.join(sorted(s.value for s in allowed_from))} certificate can be {_PAST[action]}"
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


_PAST = {"suspend": "suspended", "reinstate": "reinstated", "withdraw": "withdrawn", "cancel": "cancelled",
         "expire": "expired"}


# ==================================================================================
# May this body issue in this field? (read model fed by approval events)
# ==================================================================================


class BodyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class BodyStanding:
    """What the certificates service knows of a body's approval, from approval events.

    ``status`` is None when no approval of the body has been seen.
    """

    uscc: str
    status: BodyStatus | str | None
    fields: frozenset[str] = frozenset()
    suspended_fields: frozenset[str] = frozenset()


class IssuanceRefused(DomainError):
    """The body may not issue this certificate; ``rule`` names why (HTTP 422)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, "field" if rule in ("outside_scope", "field_suspended") else "issuing_body",
                         [{"rule": rule, "detail": message}])
        self.rule = rule


def may_issue(body: BodyStanding | None, field: str) -> None:
    """Refuse issuance unless the body's approval is active and covers ``field`` unsuspended.

    The regulation allows a certification body to certify only within its approved scope,
    and not while its approval, or that field, is suspended or revoked.
    """
    who = f"certification body {body.uscc}" if body and body.uscc else "the certification body"
    status = body.status if body else None
    if status is None:
        raise IssuanceRefused("not_approved", f"{who} is not an approved certification body")
    if status == BodyStatus.REVOKED:
        raise IssuanceRefused("body_revoked", f"{who}'s approval is revoked: it may not issue certificates")
    if status == BodyStatus.SUSPENDED:
        raise IssuanceRefused("body_suspended", f"{who}'s approval is suspended: it may not issue certificates")
    if status != BodyStatus.ACTIVE:
        raise IssuanceRefused("not_approved", f"{who} has no active approval (status {status})")
    assert body is not None
    if field not in body.fields:
        raise IssuanceRefused("outside_scope", f"{field} is outside {who}'s approved scope")
    if field in body.suspended_fields:
        raise IssuanceRefused("field_suspended", f"{who}'s approval is suspended in field {field}")


# ==================================================================================
# Who may act on a certificate (object-level rules)
# ==================================================================================

# Suspensions imposed from outside the issuing body: lifted by supervision's verified
# rectification or by the regulator, never by the body whose product or approval failed.
IMPOSED_SUSPENSIONS: frozenset[str] = frozenset(
    {SuspensionReason.SPOT_CHECK_FAILED.value, SuspensionReason.ISSUING_BODY_REVOKED.value}
)
# The reasons a person may give for a suspension; the imposed ones come only from their
# events, which also record what imposed them (the spot check, the revoked approval).
MANUAL_SUSPENSION_REASONS: frozenset[str] = frozenset(
    {SuspensionReason.SURVEILLANCE_OVERDUE.value, SuspensionReason.HOLDER_REQUEST.value, SuspensionReason.MISUSE.value}
)


class ActionForbidden(DomainError):
    """The caller may not take this action on this certificate; ``rule`` names why (HTTP 403)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, None, [{"rule": rule, "detail": message}], 403)
        self.rule = rule


def is_holder_request(action: str, reason: str | None) -> bool:
    """Cancellation, and suspension for ``holder_request``, happen only at the holder's request."""
    return action == "cancel" or (action == "suspend" and reason == SuspensionReason.HOLDER_REQUEST.value)


def may_manage(
    cert: Certificate,
    action: str,
    *,
    reason: str | None,
    regulator: bool,
    org: str | None,
    holder_reference: str | None = None,
    body: BodyStanding | None = None,
) -> None:
    """Refuse a requested transition the caller may not make on this certificate.

    - A certification body manages only the certificates it issued; the regulator any.
    - A holder's request (cancellation, suspension at the holder's request) reaches the
      register through the body that issued the certificate, with a reference to the
      holder's written request.
    - Suspensions for a failed spot check or a revoked issuing body are imposed by their
      events; the body does not lift them (rectification, or the regulator, does).
    - A body reinstating a certificate vouches for it again, so, as for issuance, its
      approval must be active and cover the certificate's field.
    """
    if action not in TRANSITIONS:
        raise DomainError(f"unknown action {action!r}", "action")
    if action == "expire":
        raise ActionForbidden("automatic_only", "certificates expire automatically once their validity has ended")
    if action == "suspend" and reason not in MANUAL_SUSPENSION_REASONS:
        allowed = ", ".join(sorted(MANUAL_SUSPENSION_REASONS))
        raise DomainError(
            f"a suspension requested over the API gives one of {allowed}; {reason} suspensions come from their events",
            "reason",
        )
    holder_request = is_holder_request(action, reason)
    if regulator:
        if holder_request:
            raise ActionForbidden(
                "holder_request_through_body",
                "a holder's request is made through the certification body that issued the certificate",
            )
        return
    if not org or org != cert.issuing_body_uscc:
        raise ActionForbidden(
            "not_issuing_body",
            f"certificate {cert.number} was issued by another certification body: a body manages only "
            "the certificates it issued",
        )
    if holder_request and not (holder_reference and holder_reference.strip()):
        raise DomainError(
            "a holder's request needs holder_reference (the holder's written request)", "holder_reference"
        )
    if action == "reinstate":
        if cert.status is Status.SUSPENDED and cert.suspension_reason in IMPOSED_SUSPENSIONS:
            raise ActionForbidden(
                "imposed_suspension",
                f"certificate {cert.number} was suspended for {cert.suspension_reason}: only a verified "
                "rectification or the regulator reinstates it",
            )
        try:
            may_issue(body, cert.field)
        except IssuanceRefused as exc:
            raise ActionForbidden(exc.rule, f"certificate {cert.number} cannot be reinstated by its body: {exc}") from None
