"""Credit classes: failures anywhere lower an organisation's class, a clean record restores it.

Pure Python, no I/O, no clock: every rule receives the instant it decides at. The class
drives the sampling ratio an organisation is drawn at in later campaigns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import DomainError
from conformity_shared.events import CreditClass

# Best first: lowering moves right, restoration moves left.
CREDIT_ORDER: tuple[CreditClass, ...] = (CreditClass.A, CreditClass.B, CreditClass.C, CreditClass.D)
RESTORATION_CAUSE = "clean_period"


class FailureKind(StrEnum):
    """Failures anywhere that lower an organisation's credit class (DESIGN, supervision)."""

    SPOT_CHECK_FAILED = "spot_check_failed"
    INSPECTION_FAILED = "inspection_failed"
    COMMITMENT_BREACHED = "commitment_breached"
    LAB_FAILURE = "lab_failure"


# How many classes each failure lowers. A breached commitment marks the organisation as
# untrustworthy (a signed declaration proved false), so it goes to D from any class;
# the other failures cost one class each.
DEFAULT_LOWERING: Mapping[FailureKind, int] = MappingProxyType(
    {
        FailureKind.SPOT_CHECK_FAILED: 1,
        FailureKind.INSPECTION_FAILED: 1,
        FailureKind.LAB_FAILURE: 1,
        FailureKind.COMMITMENT_BREACHED: len(CREDIT_ORDER) - 1,
    }
)
DEFAULT_CLEAN_PERIOD = dt.timedelta(days=365)


class InvalidCreditPolicy(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "credit_policy", [{"rule": "credit_policy", "detail": message}])


@dataclass(frozen=True)
class CreditPolicy:
    """Configurable credit rules: classes lost per failure, and the clean period."""

    clean_period: dt.timedelta = DEFAULT_CLEAN_PERIOD
    lowering: Mapping[FailureKind, int] = field(default_factory=lambda: DEFAULT_LOWERING)

    def __post_init__(self) -> None:
        if self.clean_period <= dt.timedelta(0):
            raise InvalidCreditPolicy(f"the clean period must be positive, is {self.clean_period}")
        lowering = {FailureKind(k): v for k, v in self.lowering.items()}
        missing = [k.value for k in FailureKind if k not in lowering]
        if missing:
            raise InvalidCreditPolicy(f"classes to lower are required for every failure, missing: {', '.join(missing)}")
        bad = [f"{k}={v}" for k, v in lowering.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        if bad:
            raise InvalidCreditPolicy(f"every failure lowers at least one class: {', '.join(bad)}")
        object.__setattr__(self, "lowering", MappingProxyType(lowering))


def lowered(credit_class: CreditClass, classes: int) -> CreditClass:
    """The class `classes` steps worse, never below D."""
    position = CREDIT_ORDER.index(CreditClass(credit_class))
    return CREDIT_ORDER[min(position + classes, len(CREDIT_ORDER) - 1)]


def restored(credit_class: CreditClass) -> CreditClass:
    """The class one step better, never above A."""
    position = CREDIT_ORDER.index(CreditClass(credit_class))
    return CREDIT_ORDER[max(position - 1, 0)]


@dataclass(frozen=True)
class Failure:
    """One failure of an organisation: what, which record (inspection, round, approval), when."""

    kind: FailureKind
    reference: str
    at: dt.datetime


@dataclass(frozen=True)
class CreditChange:
    """A change of credit class, as CreditClassChangedV1 publishes it."""

    organisation: str
    previous: CreditClass
    current: CreditClass
    cause: str  # a FailureKind value, or RESTORATION_CAUSE
    at: dt.datetime
    reference: str | None = None

    @property
    def published_cause(self) -> str:
        """The cause as the credit history and CreditClassChangedV1 state it: the rule, and the
        record that triggered it in brackets (`lab_failure (TL-ELEC:PT-1)`)."""
        return self.cause + (f" ({self.reference})" if self.reference else "")


@dataclass(frozen=True)
class CreditStanding:
    """An organisation's credit class and the start of its current clean period.

    `clean_since` is the later of the last failure and the last restoration; every full
    clean period after it earns one class back.
    """

    organisation: str
    credit_class: CreditClass
    clean_since: dt.datetime

    @classmethod
    def new(cls, organisation: str, at: dt.datetime, credit_class: CreditClass = CreditClass.A) -> CreditStanding:
        """A newly listed organisation: no failure on record, so class A unless told otherwise."""
        return cls(organisation, CreditClass(credit_class), at)

    def record_failure(
        self, failure: Failure, policy: CreditPolicy | None = None
    ) -> tuple[CreditStanding, CreditChange | None]:
        """Lower the class by the policy's steps for this failure (never below D).

        The failure restarts the clean period even at D; the change is None when the
        class cannot move.
        """
        policy = policy or CreditPolicy()
        current = lowered(self.credit_class, policy.lowering[FailureKind(failure.kind)])
        standing = replace(self, credit_class=current, clean_since=max(self.clean_since, failure.at))
        if current == self.credit_class:
            return standing, None
        cause = FailureKind(failure.kind).value
        change = CreditChange(self.organisation, self.credit_class, current, cause, failure.at, failure.reference)
        return standing, change

    def restore_if_clean(
        self, now: dt.datetime, policy: CreditPolicy | None = None
    ) -> tuple[CreditStanding, CreditChange | None]:
        """Raise the class by one after a full clean period without failures (never above A).

        The next period starts where this one ended, not at `now`, so the result does not
        depend on how often the check runs; a long clean record earns one class per call
        until it is caught up.
        """
        policy = policy or CreditPolicy()
        if self.credit_class == CreditClass.A:
            return self, None
        period_end = self.clean_since + policy.clean_period
        if now < period_end:
            return self, None
        current = restored(self.credit_class)
        standing = replace(self, credit_class=current, clean_since=period_end)
        return standing, CreditChange(self.organisation, self.credit_class, current, RESTORATION_CAUSE, period_end)
