"""Working-day arithmetic for statutory deadlines.

A standard-path application must be decided within 20 working days of acceptance
(DESIGN, approval). Counting follows the usual rule for administrative time limits:

- the day of acceptance does NOT count; counting starts on the next working day, so
  "20 working days after acceptance" is the 20th working day after that day, and a
  decision made on that day is on time;
- Saturdays, Sundays and public holidays are not working days;
- China moves weekend days to make long holidays ("调休"): those Saturdays or Sundays
  are working days. They are passed as ``extra_working_days``; a date that is both a
  holiday and an extra working day counts as a working day.

Public holidays change every year (the State Council publishes them each November),
so they are data: ``WorkingCalendar`` holds a set of holidays and a set of extra
working days, and ``china_2026()`` is the default for 2026. Written by hand because
the few lines needed do not justify a holiday library whose data we would still have
to check against the State Council notice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

# 国务院办公厅关于2026年部分节假日安排的通知 (4 November 2025): every day off, weekends
# inside the ranges included.
CHINA_PUBLIC_HOLIDAYS_2026: frozenset[dt.date] = frozenset(
    dt.date(2026, month, day)
    for month, days in (
        (1, range(1, 4)),  # New Year's Day: 1-3 January
        (2, range(15, 24)),  # Spring Festival: 15-23 February
        (4, range(4, 7)),  # Qingming: 4-6 April
        (5, range(1, 6)),  # Labour Day: 1-5 May
        (6, range(19, 22)),  # Dragon Boat: 19-21 June
        (9, range(25, 28)),  # Mid-Autumn: 25-27 September
        (10, range(1, 8)),  # National Day: 1-7 October
    )
    for day in days
)

# The weekend days worked instead ("调休上班") in 2026, from the same notice.
CHINA_ADJUSTED_WORKING_DAYS_2026: frozenset[dt.date] = frozenset(
    {
        dt.date(2026, 1, 4),  # Sunday
        dt.date(2026, 2, 14),  # Saturday
        dt.date(2026, 2, 28),  # Saturday
        dt.date(2026, 5, 9),  # Saturday
        dt.date(2026, 9, 20),  # Sunday
        dt.date(2026, 10, 10),  # Saturday
    }
)


def is_working_day(
    day: dt.date,
    holidays: Collection[dt.date] = frozenset(),
    *,
    extra_working_days: Collection[dt.date] = frozenset(),
) -> bool:
    """Monday to Friday and not a holiday, or an adjusted working weekend day."""
    if day in extra_working_days:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: dt.date,
    n: int,
    holidays: Collection[dt.date] = frozenset(),
    *,
    extra_working_days: Collection[dt.date] = frozenset(),
) -> dt.date:
    """The n-th working day after ``start``; ``start`` itself never counts.

    ``add_working_days(accepted_on, 20, holidays)`` is the last day on which a
    standard-path decision is on time. With n = 0 the answer is ``start``.
    """
    if n < 0:
        raise ValueError(f"the number of working days must not be negative, is {n}")
    day = start
    remaining = n
    while remaining:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays, extra_working_days=extra_working_days):
            remaining -= 1
    return day


def working_days_between(
    start: dt.date,
    end: dt.date,
    holidays: Collection[dt.date] = frozenset(),
    *,
    extra_working_days: Collection[dt.date] = frozenset(),
) -> int:
    """Working days after ``start`` up to and including ``end`` (``start`` excluded).

    The inverse of ``add_working_days``: ``working_days_between(s, add_working_days(s, n))
    == n``. Negative when ``end`` is before ``start`` (counting the working days from
    ``end``, excluded, to ``start``, included).
    """
    if end < start:
        return -working_days_between(end, start, holidays, extra_working_days=extra_working_days)
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays, extra_working_days=extra_working_days):
            count += 1
    return count


def deadline_passed(deadline: dt.date, today: dt.date) -> bool:
    """True from the day after the deadline: an act on the deadline day is on time."""
    return today > deadline


@dataclass(frozen=True)
class WorkingCalendar:
    """Holidays and adjusted working days bundled, so a service configures them once."""

    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    extra_working_days: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "extra_working_days", frozenset(self.extra_working_days))

    @classmethod
    def china_2026(cls) -> WorkingCalendar:
        """The default calendar: the 2026 public holidays and adjusted working weekends."""
        return cls(CHINA_PUBLIC_HOLIDAYS_2026, CHINA_ADJUSTED_WORKING_DAYS_2026)

    def with_holidays(self, days: Iterable[dt.date]) -> WorkingCalendar:
        """A copy with more non-working days (e.g. from settings)."""
        return WorkingCalendar(self.holidays | frozenset(days), self.extra_working_days)

    def with_working_days(self, days: Iterable[dt.date]) -> WorkingCalendar:
        """A copy with more adjusted working days (weekend days that are worked)."""
        return WorkingCalendar(self.holidays, self.extra_working_days | frozenset(days))

    def is_working_day(self, day: dt.date) -> bool:
        return is_working_day(day, self.holidays, extra_working_days=self.extra_working_days)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        return add_working_days(start, n, self.holidays, extra_working_days=self.extra_working_days)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        return working_days_between(start, end, self.holidays, extra_working_days=self.extra_working_days)
