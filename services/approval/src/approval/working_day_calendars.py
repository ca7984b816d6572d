"""The working-day calendars in force, read once at start: the State Council's notices shipped
as data (``approval/domain/calendars/<year>.toml``), then the regulator's calendars from
settings (the files of ``CONFORMITY_WORKING_DAY_CALENDAR_DIR`` and the records of
``CONFORMITY_WORKING_DAY_CALENDARS``), which add years or replace a shipped one, then the
extra days of ``CONFORMITY_PUBLIC_HOLIDAYS`` and ``CONFORMITY_ADJUSTED_WORKING_DAYS``, each
added to its own year's calendar.

A calendar the domain refuses (a worked day that is not a weekend day, a date outside its
year, a year given twice...) or a file that cannot be read stops the service at start.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from approval.domain import InvalidConfiguration, WorkingCalendar, YearCalendar
from approval.settings import ApprovalSettings, WorkingDayCalendarRecord

SHIPPED = resources.files("approval.domain") / "calendars"
READERS = {".toml": tomllib.loads, ".json": json.loads}


def working_calendar(settings: ApprovalSettings) -> WorkingCalendar:
    """The shipped years, the regulator's years over them, then the extra days of settings."""
    regulators = [*directory_calendars(settings.working_day_calendar_dir),
                  *(year_calendar(record) for record in settings.working_day_calendars)]
    return (
        WorkingCalendar.of(shipped_calendars())
        .replacing(WorkingCalendar.of(regulators))
        .with_holidays(settings.public_holidays)
        .with_working_days(settings.adjusted_working_days)
    )


def shipped_calendars() -> list[YearCalendar]:
    """The State Council's calendars shipped with the service, one file per year."""
    return [calendar_file(entry) for entry in _calendar_files(SHIPPED.iterdir())]


def shipped_years() -> tuple[int, ...]:
    return tuple(sorted(c.year for c in shipped_calendars()))


def directory_calendars(directory: Path | None) -> list[YearCalendar]:
    """The regulator's calendar files (``*.toml``, ``*.json``) in ``directory``, if one is configured."""
    if directory is None:
        return []
    if not directory.is_dir():
        raise InvalidConfiguration(f"working_day_calendar_dir {directory} is not a directory", "working_day_calendar_dir")
    return [calendar_file(entry) for entry in _calendar_files(directory.iterdir())]


def calendar_file(entry: Traversable) -> YearCalendar:
    """One year's calendar from a TOML or JSON file shaped as ``WorkingDayCalendarRecord``."""
    try:
        content: Any = READERS[Path(entry.name).suffix](entry.read_text(encoding="utf-8"))
        record = WorkingDayCalendarRecord.model_validate(content)
    except (OSError, ValueError, ValidationError) as error:  # tomllib's and json's errors are ValueErrors
        raise InvalidConfiguration(f"working-day calendar file {entry.name} cannot be read: {error}",
                                   "working_day_calendar_dir") from None
    return year_calendar(record)


def year_calendar(record: WorkingDayCalendarRecord) -> YearCalendar:
    return YearCalendar(record.year, frozenset(record.holidays), frozenset(record.working_days), record.source)


def _calendar_files(entries: Iterable[Traversable]) -> list[Traversable]:
    return sorted((e for e in entries if e.is_file() and Path(e.name).suffix in READERS), key=lambda e: e.name)
