"""Working-day arithmetic (referral/workflow/calendar.py) against dates written out by hand.

Every expected moment below was worked out on a calendar (weekends, Chile's public holidays in
2026-2027 including those moved to a Monday and the 2027 bridge holiday, and the America/Santiago
daylight-saving changes: clocks go back on 2026-04-04 24:00 and 2027-04-03 24:00, forward on
2026-09-06 00:00 and 2027-09-05 00:00). `holidays.country_holidays("CL")` was used only to cross-check
them; nothing here computes an expectation with the code under test.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from referral.workflow.calendar import WorkingCalendar
from referral.workflow.definition import Duration

SANTIAGO = ZoneInfo("America/Santiago")
UTC = dt.UTC


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def local(*parts: int) -> dt.datetime:
    """A wall-clock moment in Santiago, as aware UTC."""
    return dt.datetime(*parts, tzinfo=SANTIAGO).astimezone(UTC)


def hours(n: int) -> Duration:
    return Duration(n, "hours")


def days(n: int) -> Duration:
    return Duration(n, "calendar_days")


def working(n: int) -> Duration:
    return Duration(n, "working_days")


@pytest.fixture(scope="module")
def chile() -> WorkingCalendar:
    return WorkingCalendar(SANTIAGO, "CL")


def test_the_local_helper_uses_the_santiago_offsets_written_in_these_tests() -> None:
    assert local(2026, 11, 18, 12, 0) == utc(2026, 11, 18, 15, 0)  # summer time, UTC-3
    assert local(2027, 6, 25, 16, 0) == utc(2027, 6, 25, 20, 0)  # winter time, UTC-4


# -- which days are working days ---------------------------------------------------------------------

@pytest.mark.parametrize(("day", "works"), [
    pytest.param(dt.date(2026, 11, 18), True, id="an ordinary Wednesday"),
    pytest.param(dt.date(2026, 11, 21), False, id="a Saturday"),
    pytest.param(dt.date(2026, 11, 22), False, id="a Sunday"),
    pytest.param(dt.date(2027, 6, 28), False, id="2027-06-28 Monday: San Pedro y San Pablo moved from Tuesday 29"),
    pytest.param(dt.date(2027, 6, 29), True, id="2027-06-29 Tuesday: the date San Pedro y San Pablo moved away from"),
    pytest.param(dt.date(2026, 6, 29), False, id="2026-06-29 Monday: San Pedro y San Pablo"),
    pytest.param(dt.date(2027, 10, 11), False, id="2027-10-11 Monday: Encuentro de Dos Mundos moved from Tuesday 12"),
    pytest.param(dt.date(2027, 10, 12), True, id="2027-10-12 Tuesday: the date Encuentro moved away from"),
    pytest.param(dt.date(2026, 10, 12), False, id="2026-10-12 Monday: Encuentro de Dos Mundos"),
    pytest.param(dt.date(2027, 9, 17), False, id="2027-09-17 Friday: bridge holiday before Fiestas Patrias"),
    pytest.param(dt.date(2027, 9, 16), True, id="2027-09-16 Thursday before the bridge"),
    pytest.param(dt.date(2027, 9, 20), True, id="2027-09-20 Monday after Fiestas Patrias"),
    pytest.param(dt.date(2027, 6, 21), False, id="2027-06-21 Monday: Día de los Pueblos Indígenas"),
    pytest.param(dt.date(2026, 12, 8), False, id="2026-12-08 Tuesday: Inmaculada Concepción"),
    pytest.param(dt.date(2026, 12, 25), False, id="2026-12-25 Friday: Navidad"),
    pytest.param(dt.date(2026, 4, 3), False, id="2026-04-03 Good Friday"),
    pytest.param(dt.date(2027, 11, 1), False, id="2027-11-01 Monday: Todos los Santos"),
    pytest.param(dt.date(2026, 12, 24), True, id="2026-12-24 Thursday: Christmas Eve is a working day"),
])
def test_working_days_skip_weekends_and_chilean_holidays_including_moved_ones(
        chile: WorkingCalendar, day: dt.date, works: bool) -> None:
    assert chile.is_working_day(day) is works


def test_a_holiday_has_a_name_and_a_working_day_has_none(chile: WorkingCalendar) -> None:
    assert chile.holiday_name(dt.date(2027, 6, 28))
    assert chile.holiday_name(dt.date(2027, 9, 17))
    assert chile.holiday_name(dt.date(2027, 6, 29)) is None
    assert chile.holiday_name(dt.date(2026, 11, 21)) is None  # a Saturday is not a holiday


def test_working_days_between_counts_the_days_after_the_start_up_to_the_end(chile: WorkingCalendar) -> None:
    # Sat 26, Sun 27, Mon 28 (moved holiday), Tue 29: one working day.
    assert chile.working_days_between(dt.date(2027, 6, 25), dt.date(2027, 6, 29)) == 1
    # Mon 23 .. Fri 27 November 2026: five.
    assert chile.working_days_between(dt.date(2026, 11, 20), dt.date(2026, 11, 27)) == 5
    # Fri 17 (bridge), Sat 18, Sun 19 September 2027: none.
    assert chile.working_days_between(dt.date(2027, 9, 16), dt.date(2027, 9, 19)) == 0
    assert chile.working_days_between(dt.date(2026, 11, 20), dt.date(2026, 11, 20)) == 0
    assert chile.working_days_between(dt.date(2026, 11, 27), dt.date(2026, 11, 20)) == 0


# -- hours are exact -----------------------------------------------------------------------------------

def test_hours_are_exact_whatever_the_day(chile: WorkingCalendar) -> None:
    assert chile.add(utc(2026, 11, 18, 15, 0), hours(24)) == utc(2026, 11, 19, 15, 0)
    # Friday evening across a weekend and the moved Monday holiday: hours do not skip anything.
    assert chile.add(utc(2027, 6, 25, 20, 0), hours(72)) == utc(2027, 6, 28, 20, 0)
    assert chile.subtract(utc(2026, 11, 19, 15, 0), hours(6)) == utc(2026, 11, 19, 9, 0)


# -- calendar days ----------------------------------------------------------------------------------------

def test_calendar_days_end_at_local_midnight_after_the_nth_day_counted_from_the_day_after(
        chile: WorkingCalendar) -> None:
    start = local(2026, 11, 18, 12, 0)  # Wednesday noon
    assert chile.add(start, days(1)) == local(2026, 11, 20, 0, 0) == utc(2026, 11, 20, 3, 0)  # end of Thu 19
    assert chile.add(start, days(3)) == utc(2026, 11, 22, 3, 0)  # end of Sat 21: weekends count
    assert chile.add(start, days(30)) == utc(2026, 12, 19, 3, 0)  # end of Fri 18 December


def test_the_day_of_the_start_is_the_local_day_not_the_utc_day(chile: WorkingCalendar) -> None:
    # 23:59 on Wednesday 18 in Santiago is already Thursday 19 in UTC.
    start = utc(2026, 11, 19, 2, 59)
    assert chile.add(start, days(1)) == utc(2026, 11, 20, 3, 0)  # end of Thursday 19, local
    assert chile.add(start, working(1)) == utc(2026, 11, 20, 3, 0)


def test_a_period_that_starts_at_local_midnight_counts_the_day_it_starts(chile: WorkingCalendar) -> None:
    """A repeating clock's next period starts exactly at the previous deadline (local midnight): the
    whole day that begins then is available and must count, as `subtract` already treats a midnight
    as the end of the day before. Otherwise every period after the first is a day longer.
    """
    first_due = chile.add(local(2026, 11, 18, 12, 0), days(30))
    assert first_due == utc(2026, 12, 19, 3, 0)  # 00:00 on Saturday 19 December
    # 30 days: Saturday 19 December .. Sunday 17 January; due at 00:00 on Monday 18 January.
    assert chile.add(first_due, days(30)) == utc(2027, 1, 18, 3, 0)
    # Working days: a period starting at 00:00 on Wednesday 25 November counts that Wednesday.
    assert chile.add(utc(2026, 11, 25, 3, 0), working(1)) == utc(2026, 11, 26, 3, 0)


# -- working days ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "count", "due"), [
    pytest.param(local(2026, 11, 20, 16, 0), 2, utc(2026, 11, 25, 3, 0),
                 id="Friday 16:00 + 2 working days = end of Tuesday"),
    pytest.param(local(2027, 6, 25, 16, 0), 2, utc(2027, 7, 1, 4, 0),
                 id="the moved Monday holiday 2027-06-28 pushes it to the end of Wednesday"),
    pytest.param(local(2026, 6, 26, 16, 0), 2, utc(2026, 7, 2, 4, 0),
                 id="Monday holiday 2026-06-29 pushes it to the end of Wednesday"),
    pytest.param(local(2027, 10, 8, 16, 0), 2, utc(2027, 10, 14, 3, 0),
                 id="the moved Monday holiday 2027-10-11 pushes it to the end of Wednesday"),
    pytest.param(local(2027, 9, 16, 10, 0), 1, utc(2027, 9, 21, 3, 0),
                 id="Thursday + 1 over the Friday bridge and Fiestas Patrias = end of Monday 20"),
    pytest.param(local(2026, 12, 1, 12, 0), 10, utc(2026, 12, 17, 3, 0),
                 id="10 working days over the 2026-12-08 holiday end on Wednesday 16 December"),
    pytest.param(local(2026, 11, 18, 12, 0), 10, utc(2026, 12, 3, 3, 0),
                 id="10 working days from Wednesday 18 November end on Wednesday 2 December"),
    pytest.param(local(2026, 11, 21, 10, 0), 1, utc(2026, 11, 24, 3, 0),
                 id="started on a Saturday: the first working day is Monday"),
    pytest.param(local(2027, 6, 28, 9, 0), 1, utc(2027, 6, 30, 4, 0),
                 id="started on the moved holiday: the first working day is Tuesday 29"),
    pytest.param(local(2026, 11, 20, 23, 59), 1, utc(2026, 11, 24, 3, 0),
                 id="Friday 23:59 local (Saturday in UTC) + 1 = end of Monday"),
])
def test_working_days_end_at_local_midnight_after_the_nth_working_day(
        chile: WorkingCalendar, start: dt.datetime, count: int, due: dt.datetime) -> None:
    assert chile.add(start, working(count)) == due


@pytest.mark.parametrize(("end", "before", "at"), [
    pytest.param(utc(2026, 11, 25, 3, 0), working(1), utc(2026, 11, 24, 3, 0),
                 id="1 working day before the end of Tuesday = the end of Monday"),
    pytest.param(utc(2026, 11, 24, 3, 0), working(1), utc(2026, 11, 21, 3, 0),
                 id="1 working day before the end of Monday = the end of Friday"),
    pytest.param(utc(2027, 7, 1, 4, 0), working(2), utc(2027, 6, 26, 4, 0),
                 id="2 working days before the end of Wednesday 30 June 2027 skip the moved holiday"),
    pytest.param(utc(2027, 9, 21, 3, 0), working(1), utc(2027, 9, 17, 3, 0),
                 id="1 working day before the end of Monday 20 September 2027 = the end of Thursday 16"),
    pytest.param(utc(2026, 12, 3, 3, 0), working(2), utc(2026, 12, 1, 3, 0),
                 id="the Informe Social reminder: 2 working days before the end of 2 December"),
    pytest.param(utc(2026, 12, 19, 3, 0), days(7), utc(2026, 12, 12, 3, 0),
                 id="7 calendar days before the end of 18 December = the end of 11 December"),
])
def test_subtract_counts_back_from_the_day_a_deadline_ends(
        chile: WorkingCalendar, end: dt.datetime, before: Duration, at: dt.datetime) -> None:
    assert chile.subtract(end, before) == at


def test_a_calendar_without_country_skips_weekends_only() -> None:
    weekends = WorkingCalendar(SANTIAGO)
    assert weekends.is_working_day(dt.date(2027, 6, 28))  # a holiday in Chile, a Monday here
    assert not weekends.is_working_day(dt.date(2027, 6, 26))
    assert weekends.holiday_name(dt.date(2027, 6, 28)) is None
    # Friday 16:00 + 2 working days: Monday 28 and Tuesday 29 count.
    assert weekends.add(local(2027, 6, 25, 16, 0), working(2)) == utc(2027, 6, 30, 4, 0)
    assert weekends.subtract(utc(2027, 6, 30, 4, 0), working(2)) == utc(2027, 6, 26, 4, 0)


# -- daylight saving time in America/Santiago -----------------------------------------------------------

def test_hours_stay_exact_across_both_daylight_saving_changes(chile: WorkingCalendar) -> None:
    # Clocks go forward at 00:00 on 6 September 2026: 24 hours later reads 13:00 on the wall.
    start = local(2026, 9, 5, 12, 0)
    assert start == utc(2026, 9, 5, 16, 0)
    due = chile.add(start, hours(24))
    assert due == utc(2026, 9, 6, 16, 0)
    assert due.astimezone(SANTIAGO).hour == 13
    # Clocks go back at 24:00 on 4 April 2026: 24 hours later reads 11:00.
    start = local(2026, 4, 4, 12, 0)
    assert start == utc(2026, 4, 4, 15, 0)
    due = chile.add(start, hours(24))
    assert due == utc(2026, 4, 5, 15, 0)
    assert due.astimezone(SANTIAGO).hour == 11
    assert chile.subtract(utc(2026, 9, 6, 16, 0), hours(24)) == utc(2026, 9, 5, 16, 0)


def test_day_deadlines_land_at_local_midnight_across_daylight_saving_changes(chile: WorkingCalendar) -> None:
    # Friday 4 September 2026 16:00 (UTC-4) + 2 working days = end of Tuesday 8, now in UTC-3.
    due = chile.add(local(2026, 9, 4, 16, 0), working(2))
    assert due == utc(2026, 9, 9, 3, 0)
    assert due.astimezone(SANTIAGO).time() == dt.time(0, 0)
    # Thursday 2 April 2026 16:00 (UTC-3) + 2 working days: Good Friday, the weekend (when clocks go
    # back), then Monday 6 and Tuesday 7 in UTC-4.
    due = chile.add(local(2026, 4, 2, 16, 0), working(2))
    assert due == utc(2026, 4, 8, 4, 0)
    assert due.astimezone(SANTIAGO).time() == dt.time(0, 0)
    # The 25-hour Saturday 4 April 2026 ends at 00:00 UTC-4 on Sunday 5.
    assert chile.add(local(2026, 4, 3, 10, 0), days(1)) == utc(2026, 4, 5, 4, 0)


def test_a_day_that_ends_when_the_clocks_go_forward_ends_at_the_jump(chile: WorkingCalendar) -> None:
    # There is no 00:00 on Sunday 6 September 2026: Saturday 5 ends at 04:00 UTC (23:59:59 UTC-4
    # is followed by 01:00 UTC-3).
    assert chile.add(local(2026, 9, 4, 12, 0), days(1)) == utc(2026, 9, 6, 4, 0)
    assert chile.add(local(2027, 9, 3, 12, 0), days(1)) == utc(2027, 9, 5, 4, 0)


def test_counting_back_from_a_deadline_that_ends_when_the_clocks_go_forward(chile: WorkingCalendar) -> None:
    """The deadline 2026-09-06 04:00 UTC is the end of Saturday 5 September; seen in Santiago it reads
    01:00 on Sunday 6 (the hour 00:00-01:00 does not exist), so it must still count as Saturday's end.
    """
    deadline = utc(2026, 9, 6, 4, 0)
    assert chile.subtract(deadline, days(1)) == utc(2026, 9, 5, 4, 0)  # the end of Friday 4
    assert chile.subtract(deadline, days(7)) == utc(2026, 8, 30, 4, 0)  # the end of Saturday 29 August
    assert chile.subtract(deadline, working(1)) == utc(2026, 9, 5, 4, 0)  # Friday 4 is a working day
