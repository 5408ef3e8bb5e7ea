"""The state of an action and the deadlines of metas: pure functions, no database, no Flask.

«atrasada» is never reported: it is what an action is when its meta's date has passed and it is not
«cumplida». `due_or_late` is what the generic clocks call at merge (docs/plan_accion.md, «Deadlines»).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .models import DONE, LATE, NOT_STARTED


def action_status(reported: str | None, due_on: dt.date | None, today: dt.date) -> str:
    """The status shown for an action: the last one reported (none: «no iniciada»), or «atrasada» when the
    meta's date is before `today` and the action is not done."""
    status = reported or NOT_STARTED
    if status != DONE and due_on is not None and due_on < today:
        return LATE
    return status


@dataclass(frozen=True)
class ActionDue:
    """What a deadline needs of an action: ids and codes only."""

    action_id: int
    plan_key: str
    eje_number: int
    code: str
    due_on: dt.date | None
    reported: str | None  # the last reported status, None when nothing was reported
    responsible_key: str | None


def due_or_late(actions: Iterable[ActionDue], today: dt.date, within_days: int) -> list[ActionDue]:
    """The actions not done whose meta is due within `within_days` days of `today`, or already late; the
    soonest first."""
    limit = today + dt.timedelta(days=within_days)
    found = [a for a in actions if a.reported != DONE and a.due_on is not None and a.due_on <= limit]
    return sorted(found, key=lambda a: (a.due_on, a.eje_number, a.code))


def semester_of(day: dt.date) -> tuple[int, int]:
    return day.year, 1 if day.month <= 6 else 2


def semester_bounds(year: int, half: int) -> tuple[dt.date, dt.date]:
    """The first and last day of semester `half` (1 or 2) of `year`."""
    if half == 1:
        return dt.date(year, 1, 1), dt.date(year, 6, 30)
    return dt.date(year, 7, 1), dt.date(year, 12, 31)


def semesters(starts_on: dt.date, ends_on: dt.date) -> list[tuple[int, int]]:
    """Every semester a plan's period touches, in order."""
    found, (year, half) = [], semester_of(starts_on)
    while semester_bounds(year, half)[0] <= ends_on:
        found.append((year, half))
        year, half = (year, 2) if half == 1 else (year + 1, 1)
    return found


def parse_semester(text: str) -> tuple[int, int] | None:
    """«2025-1» → (2025, 1); None for anything else."""
    year, _, half = (text or "").partition("-")
    if not (year.isdigit() and len(year) == 4 and half in ("1", "2")):
        return None
    return int(year), int(half)
