"""Working-day arithmetic for statutory deadlines.

A standard-path application must be decided within 20 working days of acceptance
(DESIGN, approval). Counting follows the usual rule for administrative time limits:

- the day of acceptance does NOT count; counting starts on the next working day, so
  "20 working days after acceptance" is the 20th working day after that day, and a
  decision made on that day is on time;
- Saturdays, Sundays and public holidays are not working days;
- China moves weekend days to make long holidays ("调休"): those Saturdays or Sundays
  are working days. They are passed as ``extra_working_days``; to the bare functions
  below a date that is both a holiday and an extra working day counts as a working day,
  while a year's calendar may not list a date as both.

Public holidays change every year: the State Council publishes the next year's days off and
the weekend days worked instead each autumn. So they are data, one ``YearCalendar`` per year
(shipped as files in ``approval/domain/calendars/``, or loaded by the regulator from settings),
and a ``WorkingCalendar`` knows only the years it was given: counting through any other year
raises ``WorkingDayCalendarMissing`` naming that year, because weekends alone would count New
Year's Day or the Spring Festival week as working days. Written by hand because the few lines
needed do not justify a holiday library whose data we would still have to check against the
State Council's notices.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from approval.domain.errors import MalformedWorkingDayCalendar, WorkingDayCalendarMissing


class CalendarRule(StrEnum):
    """What a year's calendar must respect to be used (each breach is named at start)."""

    SOURCE_MISSING = "calendar_source_missing"
    DATE_OUTSIDE_ITS_YEAR = "calendar_date_outside_its_year"
    WORKED_DAY_NOT_A_WEEKEND_DAY = "worked_day_not_a_weekend_day"
    HOLIDAY_LISTED_AS_WORKED = "holiday_listed_as_worked"
    YEAR_GIVEN_TWICE = "calendar_year_given_twice"
    CALENDAR_MISSING = WorkingDayCalendarMissing.RULE


def is_weekend(day: dt.date) -> bool:
    return day.weekday() >= 5


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
    standard-path decision is on time. With n = 0 the answer is ``start``. Counts with
    exactly the days given; ``WorkingCalendar.add_working_days`` also knows which years it
    may count through.
    """
    return _nth_working_day_after(start, n, lambda d: is_working_day(d, holidays, extra_working_days=extra_working_days))


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
    return _working_days_between(start, end, lambda d: is_working_day(d, holidays, extra_working_days=extra_working_days))


def _nth_working_day_after(start: dt.date, n: int, working: Callable[[dt.date], bool]) -> dt.date:
    if n < 0:
        raise ValueError(f"the number of working days must not be negative, is {n}")
    day = start
    remaining = n
    while remaining:
        day += dt.timedelta(days=1)
        if working(day):
            remaining -= 1
    return day


def _working_days_between(start: dt.date, end: dt.date, working: Callable[[dt.date], bool]) -> int:
    if end < start:
        return -_working_days_between(end, start, working)
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if working(day):
            count += 1
    return count


def deadline_passed(deadline: dt.date, today: dt.date) -> bool:
    """True from the day after the deadline: an act on the deadline day is on time."""
    return today > deadline



@dataclass(frozen=True)
class YearCalendar:
    """One year's days off and the weekend days worked instead (调休上班), as the State
    Council's notice for that year sets them; ``source`` names the notice.

    A calendar that breaks a ``CalendarRule`` cannot be built: ``MalformedWorkingDayCalendar``
    names the year and every rule broken.
    """

    year: int
    holidays: frozenset[dt.date]
    working_days: frozenset[dt.date]
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "working_days", frozenset(self.working_days))
        problems = list(self._problems())
        if problems:
            raise MalformedWorkingDayCalendar(self.year, self.source.strip(), problems)

    def _problems(self) -> Iterator[tuple[str, str]]:
        if not self.source.strip():
            yield CalendarRule.SOURCE_MISSING, "a calendar names the notice it comes from"
        for day in sorted(self.holidays | self.working_days):
            if day.year != self.year:
                yield CalendarRule.DATE_OUTSIDE_ITS_YEAR, f"{day} is not in {self.year}"
        for day in sorted(self.working_days):
            if not is_weekend(day):
                yield (CalendarRule.WORKED_DAY_NOT_A_WEEKEND_DAY,
                       f"{day} is a {day:%A}, a working day already; "
                       "only a Saturday or Sunday is listed as worked")
        for day in sorted(self.holidays & self.working_days):
            yield CalendarRule.HOLIDAY_LISTED_AS_WORKED, f"{day} is listed both as a day off and as worked"

    def is_working_day(self, day: dt.date) -> bool:
        return is_working_day(day, self.holidays, extra_working_days=self.working_days)

    def with_holidays(self, days: Iterable[dt.date]) -> YearCalendar:
        return dataclasses.replace(self, holidays=self.holidays | frozenset(days))

    def with_working_days(self, days: Iterable[dt.date]) -> YearCalendar:
        return dataclasses.replace(self, working_days=self.working_days | frozenset(days))


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """The years whose calendars are known, one ``YearCalendar`` each; counting through any
    other year raises ``WorkingDayCalendarMissing`` naming it."""

    years: Mapping[int, YearCalendar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "years", MappingProxyType(dict(sorted(self.years.items()))))

    @classmethod
    def of(cls, calendars: Iterable[YearCalendar]) -> WorkingCalendar:
        """One calendar per year: a year given twice is refused, naming both sources."""
        by_year: dict[int, YearCalendar] = {}
        for calendar in calendars:
            if calendar.year in by_year:
                first = by_year[calendar.year].source
                raise MalformedWorkingDayCalendar(calendar.year, calendar.source, [(
                    CalendarRule.YEAR_GIVEN_TWICE,
                    f"{calendar.year} is given by {first!r} and again by {calendar.source!r}; give each year once",
                )])
            by_year[calendar.year] = calendar
        return cls(by_year)

    def replacing(self, other: WorkingCalendar) -> WorkingCalendar:
        """This calendar with ``other``'s years in place of its own for the years both have."""
        return WorkingCalendar({**self.years, **other.years})

    def calendar_of(self, year: int) -> YearCalendar:
        try:
            return self.years[year]
        except KeyError:
            raise WorkingDayCalendarMissing(year) from None

    def with_holidays(self, days: Iterable[dt.date]) -> WorkingCalendar:
        """More days off, each added to its year's calendar (which must be loaded)."""
        return self._amended(days, YearCalendar.with_holidays, "a day off")

    def with_working_days(self, days: Iterable[dt.date]) -> WorkingCalendar:
        """More weekend days worked, each added to its year's calendar (which must be loaded)."""
        return self._amended(days, YearCalendar.with_working_days, "a weekend day worked")

    def _amended(
        self, days: Iterable[dt.date], add: Callable[[YearCalendar, Iterable[dt.date]], YearCalendar], what: str
    ) -> WorkingCalendar:
        by_year: dict[int, set[dt.date]] = {}
        for day in days:
            by_year.setdefault(day.year, set()).add(day)
        years = dict(self.years)
        for year, added in sorted(by_year.items()):
            if year not in years:
                listed = ", ".join(str(d) for d in sorted(added))
                raise MalformedWorkingDayCalendar(year, "", [(
                    CalendarRule.CALENDAR_MISSING,
                    f"{listed} added as {what}, but {year} has no calendar to add it to; load {year}'s calendar first",
                )])
            years[year] = add(years[year], added)
        return WorkingCalendar(years)

    def is_working_day(self, day: dt.date) -> bool:
        return self.calendar_of(day.year).is_working_day(day)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        return _nth_working_day_after(start, n, self.is_working_day)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        return _working_days_between(start, end, self.is_working_day)
