"""One clock for every use case: instants in UTC, business dates in the regulator's time zone.

Use cases never call `datetime.now()` or `date.today()`: they ask the clock of their unit of
work. Instants (when something happened) are aware UTC datetimes, as stored and published.
Business dates (working days, validity, deadlines, "today") are the regulator's calendar
dates: an application accepted at 07:30 in Beijing is accepted on that Beijing day, even on a
server whose clock runs in UTC, where it is still the day before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REGULATOR_TIME_ZONE = "Asia/Shanghai"


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a ValueError naming it (settings validate with this)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as {REGULATOR_TIME_ZONE}") from None


@dataclass(frozen=True)
class Clock:
    """The system clock, read in UTC, with business dates in `zone`."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(REGULATOR_TIME_ZONE))

    def now(self) -> dt.datetime:
        """This instant, aware, in UTC."""
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        """The regulator's calendar date now."""
        return self.date_of(self.now())

    def date_of(self, instant: dt.datetime) -> dt.date:
        """The regulator's calendar date at `instant` (an aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError(f"naive datetime {instant!r}: the platform's instants are aware")
        return instant.astimezone(self.zone).date()

    def start_of(self, day: dt.date) -> dt.datetime:
        """The first instant (in UTC) of the regulator's calendar day `day`."""
        return dt.datetime.combine(day, dt.time(), self.zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class FixedClock(Clock):
    """A clock that stands still at `instant` until moved: for tests and replays."""

    instant: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("a fixed clock needs an aware instant")

    def now(self) -> dt.datetime:
        return self.instant.astimezone(dt.UTC)

    def at(self, instant: dt.datetime) -> FixedClock:
        """The same clock moved to `instant`."""
        return FixedClock(self.zone, instant)

    def later(self, **delta: float) -> FixedClock:
        """The same clock moved on by `timedelta(**delta)`."""
        return self.at(self.instant + dt.timedelta(**delta))
