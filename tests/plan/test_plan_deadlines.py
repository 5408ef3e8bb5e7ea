"""The Plan de Acción's deadlines on the same clocks as cases (issue 18 part 2; referral/plan/deadlines.py): each
action's meta runs on `meta_plan_accion` while it has a date and is not done (the responsible institution is
reminded and told when late, then the eje's coordinating institution); each plan's semester progress report runs
on `informe_semestral_plan` until the Secretaría Técnica issues it, once.

Time: the `clock` fixture starts at T0 = 2026-11-18 15:00 UTC (Wednesday noon in Santiago), inside the plan's
period (2023–2026); `tick` moves it, sweeps and runs what is due, as beat and a worker would."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from referral.audit.models import AuditEvent
from referral.auth.models import User
from referral.kernel.errors import AccessDenied
from referral.clocks.models import RUNNING, STOPPED, CaseClock, Notification
from referral.clocks.subjects import subject_clocks
from referral.network.models import Node
from referral.plan import deadlines
from referral.plan.models import Action, Institution, Plan
from referral.plan.service import ProgressInput, issue_semester_report, record_progress

from ..backends import both_backends
from ..browser import hidden_inputs
from ..clocks import tick
from ..steps import user
from ..units import unit_of_work
from .test_plan_pages import loaded, plan_id

UTC = dt.UTC
SANTIAGO = ZoneInfo("America/Santiago")
T0 = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
DUE_ON = dt.date(2026, 12, 15)  # a Tuesday


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=SANTIAGO).astimezone(UTC)


def meta(app: Any, action_id: int) -> CaseClock:
    with unit_of_work(app) as ctx:
        row = subject_clocks(ctx, "meta_plan_accion", deadlines.META_KIND, [str(action_id)])[str(action_id)]
        ctx.session.expunge(row)
        return row


def told_about(app: Any, action_id: int) -> list[tuple[str, str, int]]:
    """(user or node code, kind, level) of the notifications of one action's meta."""
    with unit_of_work(app) as ctx:
        clocks = select(CaseClock.id).where(CaseClock.clock == "meta_plan_accion",
                                            CaseClock.subject == str(action_id), CaseClock.case_id.is_(None))
        rows = ctx.session.execute(select(User.email, Node.code, Notification.kind, Notification.level)
                                   .outerjoin(User, User.id == Notification.user_id)
                                   .outerjoin(Node, Node.id == Notification.node_id)
                                   .where(Notification.clock_id.in_(clocks)))
        return sorted(((email or "").removesuffix("@demo.cl") or code, kind, level) for email, code, kind, level in rows)


def set_meta(app: Any, action_id: int, due_on: dt.date | None, responsible: str | None = None) -> None:
    """The secretariat moves a meta's date (or its institution), as the action form does."""
    with unit_of_work(app) as ctx:
        action = ctx.session.get(Action, action_id)
        action.due_on = due_on
        if responsible is not None:
            action.responsible_id = ctx.session.scalar(select(Institution.id).where(
                Institution.plan_id == action.plan_id, Institution.key == responsible))
        ctx.session.flush()
        deadlines.sync_meta(ctx, action)
        ctx.session.commit()


def report(app: Any, ids: dict[tuple[int, str], int], action: tuple[int, str], status: str, by: str = "plan.pav") -> None:
    with unit_of_work(app) as ctx:
        record_progress(ctx, user(ctx, by), plan_id(ids), ids[action],
                        ProgressInput(status, ("si",), "Acta de la sesión", "", None), uuid.uuid4().hex)
        ctx.session.commit()


@both_backends
def test_loading_the_plan_runs_every_meta_with_a_date_on_a_clock(app: Any) -> None:
    ids = loaded(app)
    with unit_of_work(app) as ctx:
        actions = list(ctx.session.scalars(select(Action)))
        running = set(ctx.session.scalars(select(CaseClock.subject).where(
            CaseClock.clock == "meta_plan_accion", CaseClock.status == RUNNING, CaseClock.case_id.is_(None))))
    dated = {str(a.id) for a in actions if a.due_on is not None and a.responsible_id is not None}
    assert running == dated and len(dated) > 10
    row = meta(app, ids[(2, "1.5")])  # PAV's, due on the plan's last day
    assert (row.subject_kind, row.due_at) == (deadlines.META_KIND, end_of_day(dt.date(2026, 12, 31)))
    with unit_of_work(app) as ctx:  # loading the same file again changes nothing and starts nothing twice
        from referral.plan.loading import load_plan, read_plan_file

        from .test_plan_file import PLAN_FILE

        load_plan(ctx, read_plan_file(PLAN_FILE))
        ctx.session.commit()
        assert ctx.session.scalar(select(func.count()).select_from(CaseClock).where(
            CaseClock.clock == "meta_plan_accion")) == len(dated)


def test_a_late_meta_tells_its_institution_then_escalates_to_the_ejes_coordinator(app: Any) -> None:
    ids = loaded(app)
    action = ids[(1, "1.2")]  # eje 1, coordinated by the Subsecretaría del Interior
    set_meta(app, action, DUE_ON, responsible="spd-pav")  # given to PAV, whose focal point is plan.pav
    tick(app, T0 + dt.timedelta(minutes=1), email=True)
    tick(app, dt.datetime(2026, 12, 9, 4, 0, tzinfo=UTC), email=True)  # five working days before
    assert told_about(app, action) == [("plan.pav", "reminder", 0)]
    tick(app, end_of_day(DUE_ON) + dt.timedelta(hours=2), email=True)
    # the coordinating institution has no one in the system: its contact address is written to
    assert told_about(app, action) == [("SUBINTERIOR", "escalation", 1), ("plan.pav", "due", 0),
                                       ("plan.pav", "reminder", 0)]
    row = meta(app, action)
    assert (row.status, row.escalation, row.breached_at) == (RUNNING, 1, end_of_day(DUE_ON))


def test_reporting_it_done_stops_the_meta_and_another_status_keeps_it_running(app: Any) -> None:
    ids = loaded(app)
    set_meta(app, ids[(2, "1.5")], DUE_ON)
    report(app, ids, (2, "1.5"), "en_curso")
    assert meta(app, ids[(2, "1.5")]).status == RUNNING
    report(app, ids, (2, "1.5"), "cumplida")
    row = meta(app, ids[(2, "1.5")])
    assert (row.status, row.stop_reason, row.met) == (STOPPED, "stop_event", True)
    tick(app, end_of_day(DUE_ON) + dt.timedelta(hours=2))
    assert told_about(app, ids[(2, "1.5")]) == []


def test_a_new_date_moves_the_meta_and_no_date_stops_it(app: Any) -> None:
    ids = loaded(app)
    action = ids[(2, "1.5")]
    set_meta(app, action, DUE_ON)
    assert meta(app, action).due_at == end_of_day(DUE_ON)
    set_meta(app, action, dt.date(2026, 12, 22))
    assert (meta(app, action).status, meta(app, action).due_at) == (RUNNING, end_of_day(dt.date(2026, 12, 22)))
    set_meta(app, action, None)
    assert meta(app, action).status == STOPPED


def semester_clocks(app: Any) -> dict[str, str]:
    with unit_of_work(app) as ctx:
        return dict(ctx.session.execute(select(CaseClock.subject, CaseClock.status).where(
            CaseClock.clock == "informe_semestral_plan")).all())


def test_the_semester_report_is_due_and_issuing_it_meets_its_deadline_once(app: Any) -> None:
    ids = loaded(app)
    plan = plan_id(ids)
    subject = f"{plan}-2026-2"
    assert semester_clocks(app) == {subject: RUNNING}
    with unit_of_work(app) as ctx:
        row = subject_clocks(ctx, "informe_semestral_plan", deadlines.REPORT_KIND, [subject])[subject]
        assert row.due_at == end_of_day(dt.date(2027, 1, 31))  # [producto] the end of the month after
        with pytest.raises(AccessDenied):  # a focal point does not issue the Mesa's report
            issue_semester_report(ctx, user(ctx, "plan.pav"), ctx.session.get(Plan, plan), 2026, 2)
    with unit_of_work(app) as ctx:
        assert issue_semester_report(ctx, user(ctx, "secretaria.mesa"), ctx.session.get(Plan, plan), 2026, 2)
        ctx.session.commit()
    with unit_of_work(app) as ctx:  # the second click
        assert not issue_semester_report(ctx, user(ctx, "secretaria.mesa"), ctx.session.get(Plan, plan), 2026, 2)
        ctx.session.commit()
        issued = ctx.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "plan.report.issue"))
    assert issued == 1
    assert semester_clocks(app) == {subject: STOPPED}  # the plan ends with 2026: no next semester


def test_the_secretariat_issues_the_report_from_its_page_and_a_focal_point_cannot(app: Any, make_browser: Any) -> None:
    ids = loaded(app)
    plan = plan_id(ids)
    page = f"/plan/{plan}/informe?semestre=2026-2"
    focal = make_browser()
    focal.login("plan.pav")
    shown = focal.get(page)
    assert shown.status_code == 200 and "Emitir el informe" not in shown.text
    assert focal.post(f"/plan/{plan}/informe/emitir", {**hidden_inputs(shown.text), "semestre": "2026-2"}).status_code == 403
    secretariat = make_browser()
    secretariat.login("secretaria.mesa")
    shown = secretariat.get(page)
    assert "Emitir el informe" in shown.text
    fields = hidden_inputs(shown.text)
    first = secretariat.post(f"/plan/{plan}/informe/emitir", fields)
    assert first.status_code == 302 and "Informe de avance emitido" in secretariat.get(page).text
    secretariat.post(f"/plan/{plan}/informe/emitir", fields)  # the same page sent again
    assert "ya estaba emitido" in secretariat.get(page).text
    assert semester_clocks(app) == {f"{plan}-2026-2": STOPPED}


def test_an_indicator_that_counts_the_mesas_sessions_is_computed_from_their_minutes(app: Any) -> None:
    """Action 4-2.4 («participación … en sesiones ampliadas de MITP Regionales»): the regional sessions with minutes
    where the responsible institution (the Subsecretaría del Interior) was present; none reported by hand."""
    from referral.mesa.service import MeetingInput, mesa_of, record_meeting
    from referral.plan.reading import action_rows

    from ..steps import node_id

    ids = loaded(app)
    interior, sermig = node_id(app, "SUBINTERIOR"), node_id(app, "SERMIG")

    def session(region: str, present: tuple[int, ...], minutes: str = "Acta.") -> None:
        with unit_of_work(app) as ctx:
            record_meeting(ctx, user(ctx, "secretaria.mesa"), mesa_of(ctx, region),
                           MeetingInput(dt.date(2026, 11, 10), present, minutes, ()), uuid.uuid4().hex)
            ctx.session.commit()

    def shown() -> str:
        with unit_of_work(app) as ctx:
            rows = action_rows(ctx, ctx.session.get(Plan, plan_id(ids)), "es", T0.date())
        return next(r for r in rows if r.id == ids[(4, "2.4")]).indicators[0].value

    assert shown() == "0"
    session("CL-RM", (interior, sermig))
    session("CL-VS", (sermig,))  # the Subsecretaría del Interior was not there
    session("nacional", (interior,))  # not a regional session
    assert shown() == "1"
