"""The status of an action and the deadlines of metas: pure functions (referral/plan/status.py)."""

from __future__ import annotations

import datetime as dt

from referral.plan.status import ActionDue, action_status, due_or_late, parse_semester, semester_bounds, semesters

TODAY = dt.date(2025, 7, 1)


def test_late_is_computed_when_the_meta_has_passed_and_the_action_is_not_done() -> None:
    passed, coming = dt.date(2025, 6, 30), dt.date(2025, 7, 1)
    assert action_status(None, passed, TODAY) == "atrasada"
    assert action_status("en_curso", passed, TODAY) == "atrasada"
    assert action_status("cumplida", passed, TODAY) == "cumplida"
    assert action_status(None, coming, TODAY) == "no_iniciada"  # due today is not late yet
    assert action_status("en_curso", coming, TODAY) == "en_curso"
    assert action_status("en_curso", None, TODAY) == "en_curso"


def due(code: str, on: dt.date | None, reported: str | None = None) -> ActionDue:
    return ActionDue(1, "plan", 1, code, on, reported, "inst")


def test_due_or_late_lists_what_is_not_done_within_the_window_soonest_first() -> None:
    actions = [due("a", dt.date(2025, 7, 20)), due("b", dt.date(2025, 6, 1)), due("c", dt.date(2025, 6, 1), "cumplida"),
               due("d", dt.date(2025, 9, 1)), due("e", None), due("f", dt.date(2025, 7, 31), "en_curso")]
    assert [a.code for a in due_or_late(actions, TODAY, 30)] == ["b", "a", "f"]
    assert [a.code for a in due_or_late(actions, TODAY, 0)] == ["b"]


def test_semesters_of_a_plan_and_their_bounds() -> None:
    assert semesters(dt.date(2023, 1, 1), dt.date(2026, 12, 31))[:3] == [(2023, 1), (2023, 2), (2024, 1)]
    assert len(semesters(dt.date(2023, 1, 1), dt.date(2026, 12, 31))) == 8
    assert semester_bounds(2025, 2) == (dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    assert parse_semester("2025-1") == (2025, 1)
    assert parse_semester("2025-3") is None and parse_semester("x") is None and parse_semester("") is None
