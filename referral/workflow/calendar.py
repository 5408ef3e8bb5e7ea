"""Deadline arithmetic: hours, calendar days and working days in the users' time zone.

Working days exclude Saturdays, Sundays and the public holidays of the workflow's country
(`calendar: {country: XX}` in the definition), taken from the maintained `holidays` calendar, which
knows holidays moved to a Monday and one-off bridge holidays fixed by law; never a list typed here.

Counting rule (docs/clocks.md): a deadline of N hours ends N hours after its start. A deadline of N
calendar or working days ends at local midnight at the end of the Nth day counted from the day after
the start, as administrative day-limits are usually counted: a form filed on a Friday at 16:00 with
"2 working days" is due at the end of Tuesday, and a holiday on the Monday moves that to the end of
Wednesday.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from .definition import Duration

SATURDAY = 5


@lru_cache(maxsize=8)
def _holiday_calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)


class WorkingCalendar:
    """Adds and subtracts clock durations; `country` is an ISO 3166 code the holidays library knows."""

    def __init__(self, timezone: ZoneInfo, country: str | None = None, subdivision: str | None = None) -> None:
        self.timezone = timezone
        self.country = country
        self._holidays = _holiday_calendar(country, subdivision) if country else None

    def is_working_day(self, day: dt.date) -> bool:
        if day.weekday() >= SATURDAY:
            return False
        return self._holidays is None or day not in self._holidays

    def holiday_name(self, day: dt.date) -> str | None:
        return self._holidays.get(day) if self._holidays is not None else None

    def add(self, start: dt.datetime, duration: Duration) -> dt.datetime:
        """The moment `duration` after `start` (aware UTC in, aware UTC out)."""
        if duration.unit == "hours":
            return start + dt.timedelta(hours=duration.value)
        # A start at local midnight belongs to the day that just ended, so a new period starting at
        # the previous deadline counts its first day in full.
        day = (start - dt.timedelta(microseconds=1)).astimezone(self.timezone).date()
        last = self._step_days(day, duration.value, +1, duration.unit == "working_days")
        return self._midnight_after(last)

    def subtract(self, end: dt.datetime, duration: Duration) -> dt.datetime:
        """The moment `duration` before `end`: a reminder "2 working days before" a deadline."""
        if duration.unit == "hours":
            return end - dt.timedelta(hours=duration.value)
        # A deadline at midnight belongs to the day that just ended. (Subtract in UTC: the night the
        # clocks go forward has no local midnight, and wall-clock arithmetic would land on the next day.)
        day = (end - dt.timedelta(microseconds=1)).astimezone(self.timezone).date()
        first = self._step_days(day, duration.value, -1, duration.unit == "working_days")
        return self._midnight_after(first)

    def end_of(self, day: dt.date) -> dt.datetime:
        """The deadline "by this date": local midnight at the end of `day` (aware UTC)."""
        return self._midnight_after(day)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 if end <= start)."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def _step_days(self, day: dt.date, count: int, direction: int, working: bool) -> dt.date:
        counts: Callable[[dt.date], bool] = self.is_working_day if working else (lambda _day: True)
        remaining = count
        while remaining:
            day += dt.timedelta(days=direction)
            if counts(day):
                remaining -= 1
        return day

    def _midnight_after(self, day: dt.date) -> dt.datetime:
        following = day + dt.timedelta(days=1)
        local = dt.datetime.combine(following, dt.time(0, 0), tzinfo=self.timezone)
        return local.astimezone(dt.UTC)
