"""The Mesa's year in one walk through the pages (issue 18 part 2, «How it is proven»): the secretariat loads the
plan, gives an action a meta and an institution; PAV's focal point reports progress with evidence; another meta
goes late and escalates to the eje's coordinating institution; the semester report is generated, printed,
downloaded and issued."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select

from referral.clocks.models import STOPPED, CaseClock, Notification
from referral.network.models import Node
from referral.plan.models import Action, Plan

from ..browser import hidden_inputs
from ..clocks import tick
from ..units import unit_of_work
from .test_plan_file import PLAN_FILE
from .test_plan_pages import pdf, send

UTC = dt.UTC
SANTIAGO = ZoneInfo("America/Santiago")
T0 = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=SANTIAGO).astimezone(UTC)


def test_the_secretariat_and_an_institution_run_the_plan_through_a_semester(app: Any, make_browser: Any) -> None:
    # 1. The Secretaría Técnica loads the plan file (the operator's command), then works in the pages.
    result = app.test_cli_runner().invoke(args=["plan", "load", str(PLAN_FILE)])
    assert result.exit_code == 0, result.output
    with unit_of_work(app) as ctx:
        plan = ctx.session.scalar(select(Plan))
        ids = {(a.eje_number, a.code): a.id for a in ctx.session.scalars(select(Action))}
        plan_id = plan.id
    secretariat = make_browser()
    secretariat.login("secretaria.mesa")
    overview = secretariat.get(f"/plan/{plan_id}")
    assert overview.status_code == 200 and "Plan de Acción Nacional contra la Trata de Personas 2023-2026" in overview.text
    # an action of eje 1 (coordinated by the Subsecretaría del Interior) is given to PAV, due on 15 December
    late = ids[(1, "1.3")]
    answer = secretariat.submit(f"/plan/{plan_id}/acciones/{late}/editar", {
        "description": "Elaboración de gráficas informativas y de sensibilización.",
        "indicator_0": "Número de gráficas elaboradas.", "indicator_kind_0": "numero",
        "goal": "Cuatro gráficas elaboradas.", "due_on": "2026-12-15", "responsible": "spd-pav"})
    assert answer.status_code == 303

    # 2. PAV's focal point reports an action of hers done, with the acta as evidence.
    focal = make_browser()
    focal.login("plan.pav")
    done = f"/plan/{plan_id}/acciones/{ids[(2, '1.5')]}/avance"
    fields = hidden_inputs(focal.get(done).text)
    answer = send(focal, done, {**fields, "status": "cumplida", "value_0": "si",
                                "reference": "Oficio 112/2026"}, pdf(), "Acta de entrega.pdf")
    assert answer.status_code == 303
    page = focal.get(f"/plan/{plan_id}/ejes/2").text
    assert "Acta de entrega.pdf" in page and "Cumplida" in page
    with unit_of_work(app) as ctx:  # its meta's clock stopped with the report
        row = ctx.session.scalar(select(CaseClock).where(CaseClock.clock == "meta_plan_accion",
                                                         CaseClock.subject == str(ids[(2, "1.5")])))
        assert row.status == STOPPED

    # 3. The meta given to PAV goes late: PAV is told, then the eje's coordinating institution.
    tick(app, T0 + dt.timedelta(minutes=1), email=True)
    tick(app, end_of_day(dt.date(2026, 12, 15)) + dt.timedelta(hours=2), email=True)
    notices = focal.get("/notificaciones").text
    assert "Meta del Plan de Acción" in notices
    with unit_of_work(app) as ctx:
        clock = ctx.session.scalar(select(CaseClock).where(CaseClock.clock == "meta_plan_accion",  # the date given
                                                           CaseClock.subject == str(late)).order_by(CaseClock.id.desc()))
        escalated = ctx.session.scalars(select(Node.code).join(Notification, Notification.node_id == Node.id).where(
            Notification.clock_id == clock.id, Notification.kind == "escalation"))
        assert list(escalated) == ["SUBINTERIOR"] and clock.breached_at is not None
    assert "Atrasada" in secretariat.get(f"/plan/{plan_id}/ejes/1").text

    # 4. The semester report: printed with its chart, downloaded, issued once.
    report = secretariat.get(f"/plan/{plan_id}/informe?semestre=2026-2")
    assert report.status_code == 200 and "<svg" in report.text and "Emitir el informe" in report.text
    xlsx = secretariat.get(f"/plan/{plan_id}/informe?semestre=2026-2&formato=xlsx")
    assert xlsx.status_code == 200
    rows = [[cell for cell in row] for row in load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True)]
    assert any("Cumplida" in row and "Oficio 112/2026" in row for row in rows), rows[:3]
    issued = secretariat.post(f"/plan/{plan_id}/informe/emitir", hidden_inputs(report.text))
    assert issued.status_code == 302
    with unit_of_work(app) as ctx:
        semester = ctx.session.scalar(select(CaseClock).where(CaseClock.clock == "informe_semestral_plan"))
        assert (semester.status, semester.met) == (STOPPED, True)
