"""The working-day calendars in force: the State Council's holiday notices shipped as data
(one file per year), a year without a calendar refused by name instead of counted as
weekends only, and a regulator's calendars loaded from settings, checked at start.

The expected days below are transcribed from the notices themselves (the ranges as the
notices state them), independently of the data files the service ships.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from conformity_devstack import testing
from conformity_shared.errors import DomainError

from approval.app import create_app
from approval.policy import Policy
from approval.settings import ApprovalSettings

D = dt.date

# A calendar for tests only: 2027's notice is not published to us, so this is NOT the State
# Council's 2027 calendar; it only makes 1 January 2027 a holiday so that a test can see a
# loaded year counted.
TEST_ONLY_2027 = {
    "year": 2027,
    "holidays": ["2027-01-01"],
    "working_days": [],
    "source": "TEST ONLY: not the State Council's 2027 notice",
}


def days(first: dt.date, last: dt.date) -> set[dt.date]:
    return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


def year_of_days(year: int) -> Iterable[dt.date]:
    return sorted(days(D(year, 1, 1), D(year, 12, 31)))


def in_force(tmp_path: Path, **settings: Any) -> Policy:
    return Policy.from_settings(testing.unit_settings(ApprovalSettings, tmp_path, **settings))


def refused_year(refusal: pytest.ExceptionInfo[DomainError]) -> str:
    (rule,) = refusal.value.rules
    assert rule["rule"] == "working_day_calendar_missing"
    return rule["detail"]


# --- a year without a calendar is refused, not counted as weekends only ---------------------


def test_2027_new_year_is_not_silently_a_working_day_without_a_2027_calendar(tmp_path: Path) -> None:
    calendar = in_force(tmp_path).calendar
    with pytest.raises(DomainError) as refused:
        calendar.is_working_day(D(2027, 1, 1))
    assert "2027" in str(refused.value)
    assert "2027" in refused_year(refused)


def test_2027_new_year_is_a_holiday_once_a_2027_calendar_is_loaded_through_settings(tmp_path: Path) -> None:
    calendar = in_force(tmp_path, working_day_calendars=[TEST_ONLY_2027]).calendar
    assert not calendar.is_working_day(D(2027, 1, 1))
    assert calendar.is_working_day(D(2027, 1, 4))


def test_a_deadline_from_2026_12_14_is_refused_naming_2027_without_its_calendar(tmp_path: Path) -> None:
    calendar = in_force(tmp_path).calendar
    with pytest.raises(DomainError) as refused:
        calendar.add_working_days(D(2026, 12, 14), 20)
    assert refused.value.status_code == 422
    assert "2027" in str(refused.value)


def test_a_deadline_from_2026_12_14_counts_the_2027_calendar_once_loaded(tmp_path: Path) -> None:
    calendar = in_force(tmp_path, working_day_calendars=[TEST_ONLY_2027]).calendar
    # 13 working days left in December 2026, 1 January a holiday, then 4-8 and 11-12 January.
    assert calendar.add_working_days(D(2026, 12, 14), 20) == D(2027, 1, 12)


def test_working_days_between_refuses_a_year_without_a_calendar(tmp_path: Path) -> None:
    calendar = in_force(tmp_path).calendar
    with pytest.raises(DomainError, match="2027"):
        calendar.working_days_between(D(2026, 12, 20), D(2027, 1, 20))
    with pytest.raises(DomainError, match="2023"):
        calendar.working_days_between(D(2024, 1, 10), D(2023, 12, 20))


# --- the shipped years follow their notices -------------------------------------------------

# year -> (days off, weekend days worked), as each notice states them.
NOTICES: dict[int, tuple[set[dt.date], set[dt.date]]] = {
    2024: (
        {D(2024, 1, 1)} | days(D(2024, 2, 10), D(2024, 2, 17)) | days(D(2024, 4, 4), D(2024, 4, 6))
        | days(D(2024, 5, 1), D(2024, 5, 5)) | {D(2024, 6, 10)} | days(D(2024, 9, 15), D(2024, 9, 17))
        | days(D(2024, 10, 1), D(2024, 10, 7)),
        {D(2024, 2, 4), D(2024, 2, 18), D(2024, 4, 7), D(2024, 4, 28), D(2024, 5, 11), D(2024, 9, 14),
         D(2024, 9, 29), D(2024, 10, 12)},
    ),
    2025: (
        {D(2025, 1, 1)} | days(D(2025, 1, 28), D(2025, 2, 4)) | days(D(2025, 4, 4), D(2025, 4, 6))
        | days(D(2025, 5, 1), D(2025, 5, 5)) | days(D(2025, 5, 31), D(2025, 6, 2))
        | days(D(2025, 10, 1), D(2025, 10, 8)),
        {D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28), D(2025, 10, 11)},
    ),
    2026: (
        days(D(2026, 1, 1), D(2026, 1, 3)) | days(D(2026, 2, 15), D(2026, 2, 23))
        | days(D(2026, 4, 4), D(2026, 4, 6)) | days(D(2026, 5, 1), D(2026, 5, 5))
        | days(D(2026, 6, 19), D(2026, 6, 21)) | days(D(2026, 9, 25), D(2026, 9, 27))
        | days(D(2026, 10, 1), D(2026, 10, 7)),
        {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)},
    ),
}


@pytest.mark.parametrize("year", sorted(NOTICES))
def test_each_shipped_year_follows_its_notice_day_by_day(tmp_path: Path, year: int) -> None:
    calendar = in_force(tmp_path).calendar
    days_off, worked = NOTICES[year]
    for day in year_of_days(year):
        expected = day in worked or (day.weekday() < 5 and day not in days_off)
        assert calendar.is_working_day(day) is expected, day


def test_spring_festival_and_its_make_up_days(tmp_path: Path) -> None:
    calendar = in_force(tmp_path).calendar
    # 2024: 10-17 February off; Sundays 4 and 18 February worked.
    assert not calendar.is_working_day(D(2024, 2, 12))
    assert calendar.is_working_day(D(2024, 2, 4)) and calendar.is_working_day(D(2024, 2, 18))
    # 2025: New Year's Eve (28 January) to 4 February off; Sunday 26 January and Saturday 8 February worked.
    assert not calendar.is_working_day(D(2025, 1, 28)) and not calendar.is_working_day(D(2025, 2, 4))
    assert calendar.is_working_day(D(2025, 1, 26)) and calendar.is_working_day(D(2025, 2, 8))
    # 2026: 15-23 February off; Saturdays 14 and 28 February worked.
    assert not calendar.is_working_day(D(2026, 2, 23))
    assert calendar.is_working_day(D(2026, 2, 14)) and calendar.is_working_day(D(2026, 2, 28))


def test_deadlines_across_the_2024_2025_year_boundary(tmp_path: Path) -> None:
    calendar = in_force(tmp_path).calendar
    # 11 working days left in December 2024, 1 January 2025 off, then 2-3, 6-10 and 13-14 January.
    assert calendar.add_working_days(D(2024, 12, 16), 20) == D(2025, 1, 14)
    assert calendar.working_days_between(D(2024, 12, 16), D(2025, 1, 14)) == 20
    # Spring Festival 2025: Sunday 26 January and Saturday 8 February count, 28 January-4 February do not.
    assert calendar.add_working_days(D(2025, 1, 20), 20) == D(2025, 2, 21)
    # National Day 2024: Sunday 29 September and Saturday 12 October count.
    assert calendar.add_working_days(D(2024, 9, 27), 20) == D(2024, 10, 30)


def test_each_shipped_calendar_names_its_notice(tmp_path: Path) -> None:
    calendar = in_force(tmp_path).calendar
    sources = {year: calendar.calendar_of(year).source for year in NOTICES}
    assert "gov.cn/zhengce/zhengceku/202310/content_6911528.htm" in sources[2024]
    assert "gov.cn/zhengce/zhengceku/202411/content_6986383.htm" in sources[2025]
    assert "gov.cn/zhengce/zhengceku/202511/content_7047091.htm" in sources[2026]
    assert all("国务院办公厅关于" in source for source in sources.values())


# --- a regulator adds a year without a code change ------------------------------------------


def test_a_calendar_file_in_the_configured_directory_is_loaded(tmp_path: Path) -> None:
    directory = tmp_path / "calendars"
    directory.mkdir()
    (directory / "2027.json").write_text(json.dumps(TEST_ONLY_2027), encoding="utf-8")
    calendar = in_force(tmp_path, working_day_calendar_dir=directory).calendar
    assert not calendar.is_working_day(D(2027, 1, 1))
    assert calendar.calendar_of(2027).source == TEST_ONLY_2027["source"]


def test_the_calendar_setting_is_read_from_its_environment_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONFORMITY_WORKING_DAY_CALENDARS", json.dumps([TEST_ONLY_2027]))
    assert not in_force(tmp_path).calendar.is_working_day(D(2027, 1, 1))


def test_configured_public_holidays_and_working_days_still_add_to_their_year(tmp_path: Path) -> None:
    calendar = in_force(tmp_path, public_holidays=["2026-12-31"], adjusted_working_days=["2026-12-26"]).calendar
    assert not calendar.is_working_day(D(2026, 12, 31))
    assert calendar.is_working_day(D(2026, 12, 26))  # a Saturday
    assert not calendar.is_working_day(D(2026, 2, 17))  # the shipped 2026 holidays stay


def calendar(**changes: Any) -> dict[str, Any]:
    return TEST_ONLY_2027 | changes


@pytest.mark.parametrize(
    ("settings", "year", "rule"),
    [
        ({"working_day_calendars": [calendar(working_days=["2027-01-06"])]}, 2027, "worked_day_not_a_weekend_day"),
        ({"working_day_calendars": [calendar(holidays=["2028-01-03"])]}, 2027, "calendar_date_outside_its_year"),
        ({"working_day_calendars": [calendar(working_days=["2026-12-26"])]}, 2027, "calendar_date_outside_its_year"),
        ({"working_day_calendars": [calendar(holidays=["2027-01-02"], working_days=["2027-01-02"])]}, 2027,
         "holiday_listed_as_worked"),
        ({"working_day_calendars": [calendar(source=" ")]}, 2027, "calendar_source_missing"),
        ({"working_day_calendars": [calendar(), calendar()]}, 2027, "calendar_year_given_twice"),
        ({"public_holidays": ["2027-01-04"]}, 2027, "working_day_calendar_missing"),
        ({"adjusted_working_days": ["2026-12-30"]}, 2026, "worked_day_not_a_weekend_day"),
        ({"adjusted_working_days": ["2026-02-15"]}, 2026, "holiday_listed_as_worked"),
    ],
)
def test_a_malformed_calendar_stops_the_service_at_start_naming_the_year_and_the_rule(
    tmp_path: Path, settings: dict[str, Any], year: int, rule: str
) -> None:
    with pytest.raises(DomainError) as refused:
        create_app(testing.unit_settings(ApprovalSettings, tmp_path, **settings))
    assert str(year) in str(refused.value)
    assert rule in str(refused.value)
