"""`flask clocks status | rebuild | sweep` on a real database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from referral.clocks.models import CaseClock, Notification

from ..backends import both_backends
from ..units import unit_of_work
from . import activate, case_id, clocks_of, file_case, notified


def rows(app: Any, reference: str) -> list[tuple[Any, ...]]:
    return [(r.clock, r.period, r.status, r.started_at, r.due_at, r.next_at, r.step, r.stopped_at, r.stop_reason)
            for r in clocks_of(app, reference)]


@both_backends
def test_rebuild_replays_the_timeline_into_the_same_clock_rows(app: Any, clock: Any) -> None:
    reference = file_case(app)
    clock.advance(hours=3)
    activate(app, reference)
    clock.advance(days=2)
    untouched = file_case(app)
    before, kept = rows(app, reference), rows(app, untouched)
    assert [r[0] for r in before] == ["triaje", "informe_social"]
    with unit_of_work(app) as ctx:  # a database from before the clocks: the case has none
        ctx.session.execute(delete(Notification))
        ctx.session.execute(delete(CaseClock).where(CaseClock.case_id == case_id(app, reference)))
        ctx.session.commit()
    assert rows(app, reference) == []

    result = app.test_cli_runner().invoke(args=["clocks", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "cases without clocks: 1; clock rows created: 2" in result.output
    assert rows(app, reference) == before  # same moments: replayed at the times the steps happened
    assert rows(app, untouched) == kept

    again = app.test_cli_runner().invoke(args=["clocks", "rebuild"])
    assert "cases without clocks: 0; clock rows created: 0" in again.output


@both_backends
def test_status_and_a_sweep_without_celery(app: Any, clock: Any) -> None:
    reference = file_case(app)
    runner = app.test_cli_runner()
    assert "running clocks: 1; overdue: 0; with a step due now: 0; e-mails owed: 0" in \
        runner.invoke(args=["clocks", "status"]).output
    clock.advance(hours=25)  # past the 24-hour triage deadline
    assert "running clocks: 1; overdue: 1; with a step due now: 1; e-mails owed: 0" in \
        runner.invoke(args=["clocks", "status"]).output

    swept = runner.invoke(args=["clocks", "sweep"])
    assert swept.exit_code == 0, swept.output
    assert "clocks handled: 1; notifications: 2" in swept.output
    assert {(user, kind) for user, _, kind, *_ in notified(app, reference)} == {
        ("coordinador.rm", "due"), ("gestor.rm", "due")}  # the lapsed reminder is not sent
    assert "clocks handled: 0; notifications: 0" in runner.invoke(args=["clocks", "sweep"]).output
