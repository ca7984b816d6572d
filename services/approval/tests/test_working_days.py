"""Working days: the 20-working-day decision deadline of the standard path."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approval.domain import MalformedWorkingDayCalendar, WorkingDayCalendarMissing
from approval.domain.working_days import (
    WorkingCalendar,
    YearCalendar,
    add_working_days,
    deadline_passed,
    is_working_day,
    working_days_between,
)
from approval.working_day_calendars import shipped_calendars

D = dt.date
# The State Council's calendars shipped as data (2024 to 2026).
CHINA = WorkingCalendar.of(shipped_calendars())
CHINA_2026 = CHINA
CHINA_PUBLIC_HOLIDAYS_2026 = CHINA.calendar_of(2026).holidays
CHINA_ADJUSTED_WORKING_DAYS_2026 = CHINA.calendar_of(2026).working_days
# A year with no day off and no worked weekend day: TEST ONLY, no notice says so.
WEEKENDS_ONLY_2026 = YearCalendar(2026, frozenset(), frozenset(), "TEST ONLY: weekends only, no notice")


def test_day_of_acceptance_does_not_count() -> None:
    monday = D(2026, 3, 2)
    assert add_working_days(monday, 1, set()) == D(2026, 3, 3)


def test_deadline_is_20_working_days_after_acceptance() -> None:
    # March 2026 has no public holiday: four full weeks after Monday 2 March.
    assert add_working_days(D(2026, 3, 2), 20, set()) == D(2026, 3, 30)
    assert CHINA_2026.add_working_days(D(2026, 3, 2), 20) == D(2026, 3, 30)


def test_zero_working_days_is_the_start_day() -> None:
    assert add_working_days(D(2026, 3, 7), 0, set()) == D(2026, 3, 7)


def test_weekends_are_not_working_days() -> None:
    friday = D(2026, 3, 6)
    assert add_working_days(friday, 1, set()) == D(2026, 3, 9)


def test_acceptance_on_a_weekend_counts_from_the_next_working_day() -> None:
    saturday = D(2026, 3, 7)
    assert add_working_days(saturday, 1, set()) == D(2026, 3, 9)


def test_public_holidays_are_not_working_days() -> None:
    # National Day week: 1-7 October 2026.
    assert CHINA_2026.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert add_working_days(D(2026, 9, 30), 1, CHINA_PUBLIC_HOLIDAYS_2026) == D(2026, 10, 8)


def test_adjusted_working_weekend_days_count() -> None:
    # Saturday 10 October 2026 is worked to make up for the National Day week.
    assert CHINA_2026.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)
    # Without the adjusted working day, the third working day is Monday 12 October.
    assert add_working_days(D(2026, 9, 30), 3, CHINA_PUBLIC_HOLIDAYS_2026) == D(2026, 10, 12)


def test_spring_festival_2026_deadline() -> None:
    # Accepted Friday 13 February: Saturday 14 is worked, 15-23 are the holiday.
    assert CHINA_2026.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert CHINA_2026.add_working_days(D(2026, 2, 13), 2) == D(2026, 2, 24)


def test_default_2026_calendar_follows_the_state_council_notice() -> None:
    assert len(CHINA_PUBLIC_HOLIDAYS_2026) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert D(2026, 2, 17) in CHINA_PUBLIC_HOLIDAYS_2026  # Spring Festival
    assert D(2026, 6, 19) in CHINA_PUBLIC_HOLIDAYS_2026  # Dragon Boat
    assert CHINA_ADJUSTED_WORKING_DAYS_2026 == {
        D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)
    }
    assert all(d.weekday() >= 5 for d in CHINA_ADJUSTED_WORKING_DAYS_2026)


def test_holidays_are_configurable() -> None:
    calendar = WorkingCalendar.of([WEEKENDS_ONLY_2026]).with_holidays({D(2026, 3, 3)})
    assert calendar.add_working_days(D(2026, 3, 2), 1) == D(2026, 3, 4)
    calendar = calendar.with_working_days({D(2026, 3, 7)})
    assert calendar.is_working_day(D(2026, 3, 7))


def test_an_extra_working_day_wins_over_a_holiday() -> None:
    day = D(2026, 3, 7)
    assert is_working_day(day, {day}, extra_working_days={day})


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        add_working_days(D(2026, 3, 2), -1, set())


def test_working_days_between_excludes_the_start_day() -> None:
    assert working_days_between(D(2026, 3, 2), D(2026, 3, 2)) == 0
    assert working_days_between(D(2026, 3, 2), D(2026, 3, 3)) == 1
    assert working_days_between(D(2026, 3, 6), D(2026, 3, 9)) == 1  # Friday to Monday
    assert CHINA_2026.working_days_between(D(2026, 9, 30), D(2026, 10, 8)) == 1


def test_working_days_between_is_negative_backwards() -> None:
    assert working_days_between(D(2026, 3, 30), D(2026, 3, 2)) == -20


@given(start=st.dates(D(2024, 1, 1), D(2026, 12, 31)), n=st.integers(0, 80))
def test_working_days_between_inverts_add_working_days(start: dt.date, n: int) -> None:
    try:
        end = CHINA_2026.add_working_days(start, n)
    except WorkingDayCalendarMissing as missing:  # the count ran past the last year shipped
        assert missing.year == 2027
        return
    assert CHINA_2026.working_days_between(start, end) == n
    assert CHINA_2026.is_working_day(end) or n == 0


def test_deadline_passes_the_day_after_the_deadline() -> None:
    deadline = D(2026, 3, 30)
    assert not deadline_passed(deadline, D(2026, 3, 29))
    assert not deadline_passed(deadline, deadline)  # a decision on the last day is on time
    assert deadline_passed(deadline, D(2026, 3, 31))


# --- one calendar per year, and only the years given ----------------------------------------


def test_a_year_without_a_calendar_is_refused_by_name() -> None:
    calendar = WorkingCalendar.of([WEEKENDS_ONLY_2026])
    with pytest.raises(WorkingDayCalendarMissing) as refused:
        calendar.add_working_days(D(2026, 12, 28), 5)
    assert refused.value.year == 2027
    assert refused.value.rules[0]["rule"] == "working_day_calendar_missing"
    assert calendar.add_working_days(D(2026, 12, 21), 5) == D(2026, 12, 28)


def test_a_later_calendar_replaces_a_year_and_adds_the_others() -> None:
    test_2027 = YearCalendar(2027, frozenset({D(2027, 1, 1)}), frozenset(), "TEST ONLY: not a notice")
    calendar = CHINA.replacing(WorkingCalendar.of([WEEKENDS_ONLY_2026, test_2027]))
    assert calendar.is_working_day(D(2026, 2, 17))  # the replacing 2026 has no Spring Festival
    assert not calendar.is_working_day(D(2027, 1, 1))
    assert not calendar.is_working_day(D(2025, 1, 28))  # 2025 stays as shipped


@pytest.mark.parametrize(
    ("holidays", "worked", "source", "rule"),
    [
        ({D(2026, 1, 1)}, {D(2026, 1, 7)}, "a notice", "worked_day_not_a_weekend_day"),
        ({D(2025, 12, 31)}, set(), "a notice", "calendar_date_outside_its_year"),
        ({D(2026, 1, 3)}, {D(2026, 1, 3)}, "a notice", "holiday_listed_as_worked"),
        ({D(2026, 1, 1)}, set(), "", "calendar_source_missing"),
    ],
)
def test_a_malformed_year_is_refused_naming_the_year_and_the_rule(
    holidays: set[dt.date], worked: set[dt.date], source: str, rule: str
) -> None:
    with pytest.raises(MalformedWorkingDayCalendar) as refused:
        YearCalendar(2026, frozenset(holidays), frozenset(worked), source)
    assert refused.value.year == 2026
    assert [r["rule"] for r in refused.value.rules] == [rule]
    assert "2026" in str(refused.value) and rule in str(refused.value)


def test_an_extra_day_needs_its_years_calendar() -> None:
    with pytest.raises(MalformedWorkingDayCalendar, match="working_day_calendar_missing") as refused:
        CHINA.with_holidays({D(2027, 2, 8)})
    assert refused.value.year == 2027
