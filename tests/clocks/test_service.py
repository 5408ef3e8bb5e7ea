"""Clocks in the database (referral/clocks/service.py): started and stopped by the case's own steps,
swept when due, run idempotently, on SQLite and PostgreSQL.

Time travels with explicit moments: the case steps happen at the `clock` fixture's time, and each
`tick(app, now)` is one sweep and one run of what it handed out, each in its own committed unit of
work, as beat and a worker do. Expected moments are written out (see test_calendar.py for how they
were worked out); the fixture's start, 2026-11-18 15:00 UTC, is Wednesday noon in Santiago.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from referral.auth.models import User
from referral.cases.erasure import erase_case
from referral.kernel.models import Case
from referral.clocks.models import FINISHED, RUNNING, STOPPED, CaseClock, Notification
from referral.clocks.service import on_occurrence, run_clocks, running_clocks, sweep
from referral.workflow.clocks import Occurrence

from ..backends import both_backends
from ..browser import Browser
from ..factories import COMPLAINT_MADE_POST, ficha_post
from ..units import unit_of_work
from . import (
    INFORME, LEASE, RESIDENCIA, activate, case_id, clock_of, clocks_of, file_case, fire, notified, save, tick,
    to_follow_up, user,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
FOCAL_POINT = ("coordinador.rm", "gestor.rm")  # the users of CAVD-CL-RM, the Metropolitana focal point


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def notes(*rows: tuple[str, str, str, int, int, int]) -> list[tuple[str, str, str, int, int, int]]:
    return sorted(rows)


def count(app: Any, model: Any) -> int:
    with unit_of_work(app) as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(model)))


# -- started by the case's own steps -----------------------------------------------------------------------

@both_backends
def test_filing_a_ficha_in_the_browser_starts_triage(app: Any, browser: Browser) -> None:
    browser.login("ong")
    response = browser.submit("/fichas/nueva", ficha_post(**COMPLAINT_MADE_POST))
    assert response.status_code == 303, response.status_code
    reference = response.headers["Location"].rsplit("/", 1)[1]
    [row] = clocks_of(app, reference)
    assert (row.clock, row.period, row.status, row.step, row.escalation) == ("triaje", 1, RUNNING, 0, 0)
    assert row.started_at == T0
    assert row.due_at == utc(2026, 11, 19, 15, 0)
    assert row.next_at == utc(2026, 11, 19, 9, 0)  # the reminder, six hours before
    assert (row.breached_at, row.stopped_at, row.stop_reason, row.enqueued_at, row.met) == (None,) * 5


@both_backends
def test_re_entering_the_state_that_started_a_running_clock_keeps_its_deadline(app: Any, clock: Any) -> None:
    reference = file_case(app)
    clock.advance(hours=5)
    with unit_of_work(app) as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        on_occurrence(ctx, case, Occurrence("", "en_evaluacion", "detectado"))
        ctx.session.commit()
    [row] = clocks_of(app, reference)
    assert (row.status, row.started_at, row.due_at) == (RUNNING, T0, utc(2026, 11, 19, 15, 0))


# -- reminders, the deadline, escalation --------------------------------------------------------------------

@both_backends
def test_triage_reminds_the_focal_point_then_notices_the_breach_then_escalates_to_national_coordination(
        app: Any) -> None:
    reference = file_case(app)
    assert tick(app, utc(2026, 11, 19, 8, 59)) == []
    assert notified(app) == []

    assert len(tick(app, utc(2026, 11, 19, 9, 0))) == 2
    assert notified(app, reference) == notes(
        ("coordinador.rm", "triaje", "reminder", 1, 0, 0), ("gestor.rm", "triaje", "reminder", 1, 0, 0))
    row = clock_of(app, reference, "triaje")
    assert (row.step, row.next_at, row.enqueued_at, row.breached_at) == (1, utc(2026, 11, 19, 15, 0), None, None)

    assert tick(app, utc(2026, 11, 19, 14, 59)) == []
    assert len(tick(app, utc(2026, 11, 19, 15, 0))) == 2
    row = clock_of(app, reference, "triaje")
    assert (row.step, row.next_at, row.breached_at, row.status) == (
        2, utc(2026, 11, 20, 15, 0), utc(2026, 11, 19, 15, 0), RUNNING)

    assert len(tick(app, utc(2026, 11, 20, 15, 0))) == 1
    assert notified(app, reference) == notes(
        ("coordinador.rm", "triaje", "reminder", 1, 0, 0), ("gestor.rm", "triaje", "reminder", 1, 0, 0),
        ("coordinador.rm", "triaje", "due", 1, 1, 0), ("gestor.rm", "triaje", "due", 1, 1, 0),
        # PAV also has the administrator, who may not open cases and is not told.
        ("coordinacion.nacional", "triaje", "escalation", 1, 2, 1),
    )
    row = clock_of(app, reference, "triaje")
    # Nothing left to send, but triage has a stop event: it stays running, and overdue, until activated.
    assert (row.status, row.next_at, row.step, row.escalation) == (RUNNING, None, 3, 1)
    assert tick(app, utc(2026, 12, 31, 0, 0)) == []
    assert len(notified(app)) == 5


@both_backends
def test_notifications_record_the_deadline_of_their_period_and_no_email_when_not_asked(app: Any) -> None:
    file_case(app)
    tick(app, utc(2026, 11, 19, 9, 0))
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(Notification)))
        assert {(n.due_at, n.created_at, n.email_pending, n.read_at) for n in rows} == {
            (utc(2026, 11, 19, 15, 0), utc(2026, 11, 19, 9, 0), False, None)}


@both_backends
def test_running_the_same_clocks_twice_and_sweeping_twice_notifies_once(app: Any) -> None:
    reference = file_case(app)
    now = utc(2026, 11, 19, 9, 30)
    with unit_of_work(app) as ctx:
        first = sweep(ctx, now, LEASE)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert sweep(ctx, now, LEASE) == []  # handed out already, and the lease has not lapsed
        ctx.session.commit()
    assert first == [clock_of(app, reference, "triaje").id]
    for runs in range(2):
        with unit_of_work(app) as ctx:
            created = run_clocks(ctx, first, now, email=False)
            ctx.session.commit()
        assert len(created) == (2 if runs == 0 else 0)
    assert notified(app, reference) == notes(
        ("coordinador.rm", "triaje", "reminder", 1, 0, 0), ("gestor.rm", "triaje", "reminder", 1, 0, 0))
    # A second full tick at the same moment finds nothing to do.
    assert tick(app, now) == []
    assert len(notified(app)) == 2


@both_backends
def test_a_reminder_whose_deadline_has_also_passed_is_skipped(app: Any) -> None:
    """The beat was down from before the reminder until after the deadline: only the overdue notice."""
    reference = file_case(app)
    assert len(tick(app, utc(2026, 11, 19, 16, 0))) == 2
    assert notified(app, reference) == notes(
        ("coordinador.rm", "triaje", "due", 1, 1, 0), ("gestor.rm", "triaje", "due", 1, 1, 0))
    row = clock_of(app, reference, "triaje")
    assert (row.step, row.next_at, row.breached_at) == (2, utc(2026, 11, 20, 15, 0), utc(2026, 11, 19, 15, 0))


@both_backends
def test_a_long_outage_sends_the_deadline_and_the_escalation_in_one_run(app: Any) -> None:
    reference = file_case(app)
    assert len(tick(app, utc(2026, 11, 25, 0, 0))) == 3
    assert notified(app, reference) == notes(
        ("coordinador.rm", "triaje", "due", 1, 1, 0), ("gestor.rm", "triaje", "due", 1, 1, 0),
        ("coordinacion.nacional", "triaje", "escalation", 1, 2, 1))
    row = clock_of(app, reference, "triaje")
    assert (row.step, row.escalation, row.next_at, row.breached_at) == (3, 1, None, utc(2026, 11, 19, 15, 0))


@both_backends
def test_only_active_staff_who_may_open_cases_are_notified(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        ctx.session.execute(update(User).where(User.email == "gestor.rm@demo.cl").values(active=False))
        ctx.session.commit()
    tick(app, utc(2026, 11, 19, 9, 0))
    assert notified(app, reference) == [("coordinador.rm", "triaje", "reminder", 1, 0, 0)]


# -- stopped by the case's own steps ------------------------------------------------------------------------

@both_backends
def test_activation_in_time_stops_triage_as_met_and_starts_the_informe_social(app: Any, clock: Any) -> None:
    reference = file_case(app)
    clock.advance(hours=2)
    activate(app, reference)
    triage = clock_of(app, reference, "triaje")
    assert (triage.status, triage.stop_reason, triage.stopped_at, triage.next_at, triage.met) == (
        STOPPED, "stop_event", utc(2026, 11, 18, 17, 0), None, True)
    informe = clock_of(app, reference, "informe_social")
    assert (informe.status, informe.period, informe.step) == (RUNNING, 1, 0)
    assert informe.started_at == utc(2026, 11, 18, 17, 0)
    assert informe.due_at == utc(2026, 12, 3, 3, 0)  # 10 working days: the end of Wednesday 2 December
    assert informe.next_at == utc(2026, 12, 1, 3, 0)  # 2 working days before
    # The stopped triage clock never speaks again; the Informe Social reminds the lead node only.
    assert tick(app, utc(2026, 11, 25, 0, 0)) == []
    assert len(tick(app, utc(2026, 12, 1, 3, 0))) == 1
    assert notified(app, reference) == [("gestor.sernameg", "informe_social", "reminder", 1, 0, 0)]


@both_backends
def test_activation_after_the_deadline_stops_triage_as_late_and_cancels_the_escalation(app: Any, clock: Any) -> None:
    reference = file_case(app)
    tick(app, utc(2026, 11, 19, 15, 0))
    clock.now = utc(2026, 11, 19, 21, 0)
    activate(app, reference)
    triage = clock_of(app, reference, "triaje")
    assert (triage.status, triage.stop_reason, triage.met, triage.breached_at) == (
        STOPPED, "stop_event", False, utc(2026, 11, 19, 15, 0))
    assert tick(app, utc(2026, 11, 21, 0, 0)) == []
    assert [kind for _, _, kind, *_ in notified(app, reference)] == ["due", "due"]


@both_backends
def test_the_working_day_deadline_of_a_case_skips_the_chilean_holiday(app: Any, clock: Any) -> None:
    reference = file_case(app)
    clock.now = utc(2026, 12, 1, 15, 0)  # Tuesday 1 December, noon; Tuesday 8 December is a holiday
    activate(app, reference)
    informe = clock_of(app, reference, "informe_social")
    assert informe.due_at == utc(2026, 12, 17, 3, 0)
    assert informe.next_at == utc(2026, 12, 15, 3, 0)


@both_backends
def test_not_activating_closes_the_case_and_stops_triage(app: Any, clock: Any) -> None:
    reference = file_case(app)
    clock.advance(hours=1)
    fire(app, "coordinador.rm", reference, "no_activar", {"motivo": "no_es_trata", "fundamento": "Sin indicadores."})
    [row] = clocks_of(app, reference)
    assert (row.status, row.stop_reason, row.met) == (STOPPED, "stop_event", True)  # triage was done in time


@both_backends
def test_submitting_the_informe_social_stops_it_and_approving_it_starts_the_plan(app: Any, clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    fire(app, "gestor.sernameg", reference, "iniciar_informe")
    save(app, "gestor.sernameg", reference, "informe_social", INFORME)
    assert clock_of(app, reference, "informe_social").status == RUNNING  # a saved draft is not a submission
    clock.advance(days=3)
    fire(app, "gestor.sernameg", reference, "enviar_informe")
    informe = clock_of(app, reference, "informe_social")
    assert (informe.status, informe.stop_reason, informe.stopped_at, informe.met) == (
        STOPPED, "stop_event", utc(2026, 11, 21, 15, 0), True)
    clock.advance(days=1)
    fire(app, "coordinador.rm", reference, "aprobar_informe")
    plan = clock_of(app, reference, "plan")
    assert (plan.status, plan.started_at) == (RUNNING, utc(2026, 11, 22, 15, 0))
    # Sunday 22 November + 10 working days: Monday 23 .. Friday 4 December.
    assert plan.due_at == utc(2026, 12, 5, 3, 0)


@both_backends
def test_closing_the_case_stops_every_running_clock_and_reopening_starts_a_new_one(app: Any, clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    fire(app, "gestor.sernameg", reference, "iniciar_residencia")
    save(app, "gestor.sernameg", reference, "solicitud_residencia", RESIDENCIA)
    fire(app, "gestor.sernameg", reference, "presentar_residencia")
    running = {row.clock for row in clocks_of(app, reference) if row.status == RUNNING}
    assert running == {"informe_social", "reporte_migraciones"}
    with unit_of_work(app) as ctx:
        listed = running_clocks(ctx, [case_id(app, reference)])
        assert [row.clock for row in listed[case_id(app, reference)]] == ["informe_social", "reporte_migraciones"]

    clock.advance(hours=1)
    fire(app, "coordinador.rm", reference, "cerrar", {"motivo": "objetivos_cumplidos",
                                                      "fecha_cierre": dt.date(2026, 11, 18)})
    rows = clocks_of(app, reference)
    assert {(row.clock, row.status, row.stop_reason, row.next_at) for row in rows} == {
        ("triaje", STOPPED, "stop_event", None),
        ("informe_social", STOPPED, "case_closed", None),
        ("reporte_migraciones", STOPPED, "case_closed", None),
    }
    assert {row.stopped_at for row in rows if row.stop_reason == "case_closed"} == {utc(2026, 11, 18, 16, 0)}
    assert tick(app, utc(2027, 6, 1, 0, 0)) == []

    clock.advance(hours=1)
    fire(app, "coordinador.rm", reference, "reabrir_sin_plan", {"motivo": "Nueva amenaza de la red."})
    informes = [row for row in clocks_of(app, reference) if row.clock == "informe_social"]
    assert [(row.status, row.period, row.started_at) for row in informes] == [
        (STOPPED, 1, T0), (RUNNING, 1, utc(2027, 6, 1, 1, 0))]


@both_backends
def test_a_track_step_on_a_closed_case_starts_no_clock(app: Any, clock: Any) -> None:
    """The residence track goes on after closure (migraciones may still record the decision), but a
    closed case runs no clocks: the cédula clock that decision starts on an open case does not start."""
    reference = file_case(app)
    activate(app, reference)
    fire(app, "gestor.sernameg", reference, "iniciar_residencia")
    save(app, "gestor.sernameg", reference, "solicitud_residencia", RESIDENCIA)
    fire(app, "gestor.sernameg", reference, "presentar_residencia")
    fire(app, "coordinador.rm", reference, "cerrar", {"motivo": "objetivos_cumplidos",
                                                      "fecha_cierre": dt.date(2026, 11, 18)})
    fire(app, "migraciones", reference, "otorgar_residencia", {
        "fecha_resolucion": dt.date(2026, 11, 18), "numero_permiso": "RT-2026-001",
        "vigencia_inicio": dt.date(2026, 11, 18), "vigencia_fin": dt.date(2027, 11, 18)})
    assert "cedula" not in {row.clock for row in clocks_of(app, reference)}
    assert {row.status for row in clocks_of(app, reference)} == {STOPPED}


# -- repeating clocks ----------------------------------------------------------------------------------------

@both_backends
def test_follow_up_prompts_the_lead_node_in_new_periods_until_follow_up_ends(app: Any, clock: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)
    follow = clock_of(app, reference, "seguimiento")
    assert (follow.status, follow.period, follow.started_at) == (RUNNING, 1, T0)
    assert follow.due_at == follow.next_at == utc(2026, 12, 19, 3, 0)  # 30 days: the end of 18 December

    assert tick(app, utc(2026, 12, 19, 2, 59)) == []
    assert len(tick(app, utc(2026, 12, 19, 3, 0))) == 1
    follow = clock_of(app, reference, "seguimiento")
    assert (follow.status, follow.period, follow.step, follow.started_at, follow.breached_at) == (
        RUNNING, 2, 0, utc(2026, 12, 19, 3, 0), None)
    assert follow.next_at == follow.due_at > follow.started_at
    assert len(clocks_of(app, reference)) == 4  # triaje, informe_social, plan, seguimiento: one row each

    # Two more deadlines pass while nobody sweeps: only the latest prompt is worth sending.
    assert len(tick(app, utc(2027, 3, 1, 0, 0))) == 1
    assert notified(app, reference) == notes(
        ("gestor.sernameg", "seguimiento", "periodic", 1, 0, 0),
        ("gestor.sernameg", "seguimiento", "periodic", 3, 0, 0),
    )
    assert clock_of(app, reference, "seguimiento").period == 4

    clock.now = utc(2027, 3, 1, 12, 0)
    fire(app, "gestor.sernameg", reference, "reanudar_plan")
    follow = clock_of(app, reference, "seguimiento")
    assert (follow.status, follow.stop_reason, follow.next_at, follow.met) == (STOPPED, "stop_event", None, True)
    assert tick(app, utc(2027, 12, 1, 0, 0)) == []


@both_backends
def test_every_follow_up_period_is_thirty_days_long(app: Any) -> None:
    """The second period starts at 00:00 on Saturday 19 December 2026, the first one's deadline; its
    30 days are 19 December .. 17 January, so it is due at 00:00 on Monday 18 January 2027."""
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)
    tick(app, utc(2026, 12, 19, 3, 0))
    follow = clock_of(app, reference, "seguimiento")
    assert follow.started_at == utc(2026, 12, 19, 3, 0)
    assert follow.due_at == utc(2027, 1, 18, 3, 0)


# -- the sweep ---------------------------------------------------------------------------------------------

@both_backends
def test_the_sweep_hands_a_clock_out_once_until_its_lease_lapses(app: Any) -> None:
    reference = file_case(app)
    triage = clock_of(app, reference, "triaje").id
    now = utc(2026, 11, 19, 9, 0)

    def swept(at: dt.datetime) -> list[int]:
        with unit_of_work(app) as ctx:
            ids = sweep(ctx, at, LEASE)
            ctx.session.commit()
        return ids

    assert swept(utc(2026, 11, 19, 8, 59)) == []
    assert swept(now) == [triage]
    assert clock_of(app, reference, "triaje").enqueued_at == now
    assert swept(now + dt.timedelta(minutes=4)) == []
    assert swept(now + LEASE) == []  # the lease lapses strictly after five minutes
    assert swept(now + LEASE + dt.timedelta(seconds=1)) == [triage]  # the message was lost: hand it out again
    assert clock_of(app, reference, "triaje").enqueued_at == now + LEASE + dt.timedelta(seconds=1)
    with unit_of_work(app) as ctx:
        assert len(run_clocks(ctx, [triage], now + LEASE + dt.timedelta(seconds=2), email=False)) == 2
        ctx.session.commit()
    row = clock_of(app, reference, "triaje")
    assert (row.enqueued_at, row.step) == (None, 1)


@both_backends
def test_the_sweep_hands_out_the_soonest_first_and_respects_its_limit(app: Any, clock: Any) -> None:
    first = file_case(app)
    clock.advance(hours=1)
    second = file_case(app)
    clock.advance(hours=1)
    third = file_case(app)
    ids = [clock_of(app, reference, "triaje").id for reference in (first, second, third)]
    now = utc(2026, 11, 20, 0, 0)
    with unit_of_work(app) as ctx:
        assert sweep(ctx, now, LEASE, limit=2) == ids[:2]
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert sweep(ctx, now, LEASE) == ids[2:]
        ctx.session.commit()


@both_backends
def test_run_clocks_ignores_clocks_not_yet_due_or_not_running(app: Any, clock: Any) -> None:
    reference = file_case(app)
    triage = clock_of(app, reference, "triaje").id
    with unit_of_work(app) as ctx:
        assert run_clocks(ctx, [triage], utc(2026, 11, 19, 8, 0), email=False) == []
        assert run_clocks(ctx, [], utc(2026, 11, 19, 9, 0), email=False) == []
        ctx.session.commit()
    clock.advance(hours=1)
    activate(app, reference)
    with unit_of_work(app) as ctx:
        assert run_clocks(ctx, [triage], utc(2026, 11, 30, 0, 0), email=False) == []
        ctx.session.commit()
    assert notified(app) == []


@both_backends
def test_a_clock_the_definition_no_longer_declares_ends_quietly(app: Any) -> None:
    reference = file_case(app)
    with unit_of_work(app) as ctx:
        row = CaseClock(case_id=case_id(app, reference), clock="obsoleto", period=1, status=RUNNING, started_at=T0,
                        due_at=utc(2026, 11, 19, 0, 0), next_at=utc(2026, 11, 19, 0, 0), step=0, escalation=0)
        ctx.session.add(row)
        ctx.session.commit()
        old = row.id
    assert tick(app, utc(2026, 11, 19, 1, 0)) == []
    gone = clock_of(app, reference, "obsoleto")
    assert (gone.id, gone.status, gone.next_at) == (old, FINISHED, None)


@both_backends
def test_two_workers_that_both_read_a_clock_before_either_writes_notify_once(app: Any) -> None:
    """Two workers got the same clock (a lapsed lease, a message delivered twice) and both read it
    before either claims it; the compare-and-swap lets exactly one of them notify."""
    references = [file_case(app), file_case(app)]
    ids = [clock_of(app, reference, "triaje").id for reference in references]
    now = utc(2026, 11, 19, 9, 0)
    both_read = threading.Barrier(2, timeout=30)
    created: dict[str, list[uuid.UUID]] = {}
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with unit_of_work(app) as ctx:
                waited = False

                @event.listens_for(ctx.session, "do_orm_execute")
                def hold_the_first_claim(state: Any) -> None:
                    nonlocal waited
                    if state.is_update and not waited:  # both have read the rows: now both claim
                        waited = True
                        both_read.wait()

                created[name] = run_clocks(ctx, ids, now, email=False)
                ctx.session.commit()
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)
            both_read.abort()

    threads = [threading.Thread(target=worker, args=(name,), name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert failures == []
    assert sorted(len(ids) for ids in created.values()) == [0, 4]
    assert len(notified(app)) == 4
    for reference in references:
        assert clock_of(app, reference, "triaje").step == 1


# -- erasure and the database's own guarantees ------------------------------------------------------------

@both_backends
def test_erasing_a_case_removes_its_clocks_and_notifications(app: Any) -> None:
    erased, kept = file_case(app), file_case(app)
    tick(app, utc(2026, 11, 19, 9, 0))
    assert len(notified(app, erased)) == len(notified(app, kept)) == 2
    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), erased, "ingreso_erroneo", erased)
        ctx.session.commit()
    assert count(app, CaseClock) == 1 and count(app, Notification) == 2
    assert clocks_of(app, erased) == [] and notified(app, erased) == []
    assert [row.clock for row in clocks_of(app, kept)] == ["triaje"]
    assert len(notified(app, kept)) == 2
    # The sweep goes on for the case that is left.
    assert len(tick(app, utc(2026, 11, 19, 15, 0))) == 2
    assert sorted(kind for _, _, kind, *_ in notified(app)) == ["due", "due", "reminder", "reminder"]


@both_backends
def test_only_one_running_period_of_a_clock_per_case(app: Any) -> None:
    reference = file_case(app)
    case = case_id(app, reference)

    def add(key: str, status: str) -> None:
        with unit_of_work(app) as ctx:
            ctx.session.add(CaseClock(case_id=case, clock=key, period=1, status=status, started_at=T0,
                                      due_at=utc(2026, 11, 19, 15, 0), next_at=None, step=0, escalation=0))
            ctx.session.commit()

    with pytest.raises(IntegrityError):
        add("triaje", RUNNING)
    add("triaje", STOPPED)
    add("triaje", STOPPED)
    add("triaje", FINISHED)
    add("informe_social", RUNNING)
    assert sorted((row.clock, row.status) for row in clocks_of(app, reference)) == [
        ("informe_social", RUNNING), ("triaje", FINISHED), ("triaje", RUNNING), ("triaje", STOPPED),
        ("triaje", STOPPED)]


@both_backends
def test_a_notification_is_unique_per_clock_period_step_and_user(app: Any) -> None:
    reference = file_case(app)
    tick(app, utc(2026, 11, 19, 9, 0))
    with unit_of_work(app) as ctx:
        original = ctx.session.scalars(select(Notification)).first()
        assert original is not None
        ctx.session.add(Notification(id=uuid.uuid4(), user_id=original.user_id, case_id=original.case_id,
                                     clock_id=original.clock_id, clock="triaje", period=1, step=0, kind="reminder",
                                     level=0, due_at=original.due_at, created_at=original.created_at,
                                     email_pending=False))
        with pytest.raises(IntegrityError):
            ctx.session.commit()
    assert len(notified(app, reference)) == 2


# -- the mandatory complaint (CPP arts. 175-176) -------------------------------------------------------------

@both_backends
def test_a_public_health_service_that_made_no_complaint_is_reminded_within_24_hours(app: Any) -> None:
    reference = file_case(app, denuncia_realizada="no")  # by salud.rm: MINSAL, a public health service
    denuncia = clock_of(app, reference, "denuncia_obligatoria")
    assert (denuncia.status, denuncia.due_at) == (RUNNING, utc(2026, 11, 19, 15, 0))
    assert tick(app, utc(2026, 11, 19, 8, 59)) == []
    tick(app, utc(2026, 11, 19, 9, 0))  # 6 hours before: the detecting node and the focal point
    told = {(who, kind) for who, clock_key, kind, *_ in notified(app, reference) if clock_key == "denuncia_obligatoria"}
    assert told == {("salud.rm", "reminder"), ("coordinador.rm", "reminder"), ("gestor.rm", "reminder")}
    tick(app, utc(2026, 11, 19, 15, 0))
    told = {(who, kind) for who, clock_key, kind, *_ in notified(app, reference) if clock_key == "denuncia_obligatoria"}
    assert {who for who, kind in told if kind == "due"} == {"salud.rm", "coordinador.rm", "gestor.rm"}
    assert clock_of(app, reference, "denuncia_obligatoria").status == FINISHED  # nothing records the complaint


@both_backends
def test_the_complaint_clock_starts_only_for_obliged_nodes_when_no_complaint_is_known(app: Any) -> None:
    assert "denuncia_obligatoria" in {r.clock for r in clocks_of(app, file_case(app, denuncia_realizada="sin_informacion"))}
    made = file_case(app)  # COMPLAINT_MADE: a complaint was made
    assert "denuncia_obligatoria" not in {r.clock for r in clocks_of(app, made)}
    by_ngo = file_case(app, by="ong", denuncia_realizada="no")  # an NGO is not obliged to report...
    # ...but the public focal point that receives its Ficha learns of the crime: the 24 hours are hers
    assert {r.clock for r in clocks_of(app, by_ngo)} == {"triaje", "denuncia_obligatoria_punto_focal"}
    by_police = file_case(app, by="policia.rm", denuncia_realizada="no")
    assert {r.clock for r in clocks_of(app, by_police)} == {"triaje", "denuncia_obligatoria"}
    ngo_made = file_case(app, by="ong")  # a complaint already made: no clock for anyone
    assert {r.clock for r in clocks_of(app, ngo_made)} == {"triaje"}


@both_backends
def test_when_an_ngo_files_the_focal_point_alone_is_reminded_of_the_complaint(app: Any) -> None:
    reference = file_case(app, by="ong", denuncia_realizada="no")
    clock = clock_of(app, reference, "denuncia_obligatoria_punto_focal")
    assert clock.due_at - clock.started_at == dt.timedelta(hours=24)
    tick(app, clock.due_at - dt.timedelta(hours=6))  # the reminder 6 hours before
    tick(app, clock.due_at)
    told = {(who, kind) for who, clock_key, kind, *_ in notified(app, reference)
            if clock_key == "denuncia_obligatoria_punto_focal"}
    assert {who for who, _ in told} == set(FOCAL_POINT)  # the NGO's staff are never told
    assert {kind for _, kind in told} == {"reminder", "due"}


# -- the permit extension window (art. 37): a deadline typed into a form -----------------------------------

def granted(app: Any, valid_until: dt.date, valid_from: dt.date = dt.date(2026, 11, 18)) -> str:
    reference = file_case(app)
    activate(app, reference)
    fire(app, "gestor.sernameg", reference, "iniciar_residencia")
    save(app, "gestor.sernameg", reference, "solicitud_residencia", RESIDENCIA)
    fire(app, "gestor.sernameg", reference, "presentar_residencia")
    fire(app, "migraciones", reference, "otorgar_residencia", {
        "fecha_resolucion": dt.date(2026, 11, 18), "numero_permiso": "RT-2026-7781",
        "vigencia_inicio": valid_from, "vigencia_fin": valid_until})
    return reference


@both_backends
def test_the_permit_end_typed_by_migration_is_the_deadline_with_reminders_90_30_and_10_days_before(app: Any) -> None:
    reference = granted(app, dt.date(2027, 11, 30))
    window = clock_of(app, reference, "prorroga_permiso")
    assert (window.status, window.due_at) == (RUNNING, utc(2027, 12, 1, 3, 0))  # end of 30 Nov, Santiago (UTC-3)
    # 90 days before the end of 30 November is the start of 2 September (UTC-4 until DST on 5 September).
    assert window.next_at == utc(2027, 9, 2, 4, 0)

    def reminded() -> list[str]:
        return [kind for who, clock_key, kind, *_ in notified(app, reference)
                if clock_key == "prorroga_permiso" and who == "gestor.sernameg"]

    tick(app, utc(2027, 9, 2, 3, 59))
    assert reminded() == []
    tick(app, utc(2027, 9, 2, 4, 0))
    assert reminded() == ["reminder"]
    tick(app, utc(2027, 11, 1, 3, 0))  # 30 days before (start of 31 October; DST: UTC-3)
    tick(app, utc(2027, 11, 21, 3, 0))  # 10 days before
    assert reminded() == ["reminder", "reminder", "reminder"]
    tick(app, utc(2027, 12, 1, 3, 0))
    assert sorted(reminded()) == ["due", "reminder", "reminder", "reminder"]


@both_backends
def test_requesting_the_extension_stops_the_window_and_a_new_grant_starts_a_new_one(app: Any) -> None:
    reference = granted(app, dt.date(2027, 11, 30))
    fire(app, "gestor.sernameg", reference, "solicitar_prorroga", {"fecha_solicitud": dt.date(2026, 11, 18)})
    assert clock_of(app, reference, "prorroga_permiso").status == STOPPED
    fire(app, "migraciones", reference, "otorgar_prorroga", {
        "fecha_resolucion": dt.date(2026, 11, 18), "numero_permiso": "RT-2026-7781-P",
        "vigencia_inicio": dt.date(2027, 12, 1), "vigencia_fin": dt.date(2028, 12, 1)})
    renewed = clock_of(app, reference, "prorroga_permiso")
    assert (renewed.status, renewed.due_at) == (RUNNING, utc(2028, 12, 2, 3, 0))


@both_backends
def test_a_permit_already_ended_starts_no_window(app: Any) -> None:
    reference = granted(app, dt.date(2026, 11, 1), valid_from=dt.date(2025, 10, 1))
    assert "prorroga_permiso" not in {r.clock for r in clocks_of(app, reference)}
