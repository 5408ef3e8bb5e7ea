"""The statistics projection (case_stats, case_stat_steps) as the normal services write it, on a real
database with real encryption: categories from the Ficha, milestones timed from detection, entry,
closing and reopening, refusals that write nothing, erasure; then the Mesa's tables and the dashboard's
quantiles computed from it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from referral.audit.service import pseudonym
from referral.cases.erasure import erase_case
from referral.kernel.errors import CaseError
from referral.workflow.errors import TransitionRefused
from referral.stats.dashboard import dashboard, percentile
from referral.stats.figures import Filters, Period, mesa_tables, raw_tables
from referral.stats.tables import SMALL
from referral.stats.models import CaseStat, CaseStatStep

from ..conftest import Clock
from ..factories import ficha_values
from ..steps import activate, case_id, fire, node_id, save, user
from ..steps import file_case as _file_case
from ..units import unit_of_work

REFUSED = (CaseError, TransitionRefused)
BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
CIERRE = {"motivo": "desiste", "fecha_cierre": dt.date(2026, 11, 18)}


def file_case(app: Flask, **changes: Any) -> str:
    return _file_case(app, **changes)


def stat(app: Flask, reference: str) -> CaseStat | None:
    with unit_of_work(app) as ctx:
        row = ctx.session.get(CaseStat, case_id(app, reference))
        if row is not None:
            ctx.session.expunge(row)
        return row


def steps(app: Flask, reference: str) -> dict[str, tuple[dt.datetime, float]]:
    with unit_of_work(app) as ctx:
        return {s.milestone: (s.at, s.days) for s in ctx.session.scalars(
            select(CaseStatStep).where(CaseStatStep.case_id == case_id(app, reference)))}


def snapshot(app: Flask) -> tuple[Any, ...]:
    with unit_of_work(app) as ctx:
        return (tuple(ctx.session.execute(select(CaseStat.case_id, CaseStat.state, CaseStat.tracks, CaseStat.attributes,
                                                 CaseStat.entered_at, CaseStat.closed_at, CaseStat.closing)
                                          .order_by(CaseStat.case_id)).all()),
                tuple(ctx.session.execute(select(CaseStatStep.case_id, CaseStatStep.milestone, CaseStatStep.days)
                                          .order_by(CaseStatStep.case_id, CaseStatStep.milestone)).all()))


def close(app: Flask, reference: str, motivo: str = "desiste") -> None:
    fire(app, "coordinador.rm", reference, "cerrar", {**CIERRE, "motivo": motivo})


# -- intake and categories -------------------------------------------------------------------------


@BOTH
def test_intake_creates_a_row_with_the_log_pseudonym_and_the_fichas_categories(app: Flask, clock: Clock) -> None:
    reference = file_case(app, sexo="F", fecha_nacimiento=dt.date(1990, 3, 17), nacionalidad="PE",
                          tipo_trata="laboral")
    row = stat(app, reference)
    assert row is not None
    with unit_of_work(app) as ctx:
        assert row.pseudonym == pseudonym(ctx, case_id(app, reference))
    assert reference not in row.pseudonym and len(row.pseudonym) == 24
    page = {"sexo": "F", "grupo_edad": "30-45", "nacionalidad": "PE", "tipo_trata": "laboral", "nna": "no",
            "lugar_deteccion": "chile"}
    assert {key: row.attributes[key] for key in page} == page
    # the annual report's own categories: codes only; a multiple-choice field keeps a list, none recorded: unknown
    report = {key: row.attributes[key] for key in row.attributes if key not in page}
    with unit_of_work(app) as ctx:
        assert set(report) == set(ctx.definition.statistics.report.dimensions)
    assert report["edad_nna"] == "sin_informacion"  # an adult: no child's bracket
    assert report["fines"] == ["explotacion_sexual"] and report["servicios_plan"] == ["sin_informacion"]
    assert report["nivel_educacional"] == "sin_informacion"  # no Informe Social yet
    assert row.region_code == "CL-RM" and row.detecting_org_type
    assert row.state == "detectado" and row.tracks == {}
    assert row.detected_at == clock.now
    assert row.entered_at is None and row.closed_at is None and row.closing is None
    assert steps(app, reference) == {}


@pytest.mark.parametrize(("born", "bracket"), [
    (dt.date(1996, 11, 18), "30-45"),  # 30 on the detection day
    (dt.date(1996, 11, 19), "18-29"),  # 30 the day after
    (dt.date(2008, 11, 18), "18-29"),  # 18 that day
    (dt.date(2010, 1, 1), "14-17"),
    (dt.date(1966, 11, 19), "46-59"),  # 59 until the next day
    (dt.date(1950, 5, 5), "60+"),
])
def test_the_age_bracket_is_the_age_at_the_detection_date(app: Flask, born: dt.date, bracket: str) -> None:
    minor = born > dt.date(2008, 11, 18)
    changes: dict[str, Any] = {"fecha_nacimiento": born, "nna": minor}
    if minor:
        changes.update(consentimiento="no_consultado_nna", consentimiento_de=None,
                       consentimiento_motivo="Menor de edad.")
    reference = file_case(app, **changes)
    row = stat(app, reference)
    assert row is not None
    assert row.attributes["grupo_edad"] == bracket
    assert row.attributes["nna"] == ("si" if minor else "no")


def test_an_estimated_age_counts_when_no_birth_date(app: Flask) -> None:
    estimated = file_case(app, edad_tipo="estimada", fecha_nacimiento=None, edad_estimada=47)
    unknown = file_case(app, edad_tipo="desconocida", fecha_nacimiento=None, sexo="sin_informacion",
                        tipo_trata="sin_informacion")
    first, second = stat(app, estimated), stat(app, unknown)
    assert first is not None and second is not None
    assert first.attributes["grupo_edad"] == "46-59"
    assert second.attributes["grupo_edad"] == "sin_informacion"
    assert second.attributes["sexo"] == "sin_informacion"
    assert second.attributes["nacionalidad"] == "VE"
    assert second.attributes["nna"] == "no"
    assert second.attributes["tipo_trata"] == "sin_informacion"


def test_editing_the_ficha_updates_the_categories(app: Flask) -> None:
    reference = file_case(app)
    before = stat(app, reference)
    assert before is not None and before.attributes["sexo"] == "F" and before.attributes["nacionalidad"] == "VE"
    fire(app, "coordinador.rm", reference, "tomar_caso")
    fire(app, "coordinador.rm", reference, "solicitar_informacion", {"preguntas": "¿Edad?"})
    save(app, "salud.rm", reference, "ficha", ficha_values(sexo="M", nacionalidad="BO", tipo_trata="laboral",
                                                          fecha_nacimiento=dt.date(1960, 1, 1)))
    after = stat(app, reference)
    assert after is not None
    page = {"sexo": "M", "grupo_edad": "60+", "nacionalidad": "BO", "tipo_trata": "laboral", "nna": "no",
            "lugar_deteccion": "chile"}
    assert {key: after.attributes[key] for key in page} == page
    assert after.state == "informacion_solicitada"


# -- transitions ------------------------------------------------------------------------------------


@BOTH
def test_milestones_are_timed_from_detection_and_entry_is_the_first_activation(app: Flask, clock: Clock) -> None:
    reference = file_case(app)
    detected = clock.now
    clock.advance(days=2)
    fire(app, "coordinador.rm", reference, "tomar_caso")
    clock.advance(days=1, hours=12)
    fire(app, "coordinador.rm", reference, "activar",
         {"nodo_lider": str(node_id(app, "SERNAMEG")), "fundamento": "Indicadores claros."})
    reached = steps(app, reference)
    assert set(reached) == {"triaje", "activacion"}
    assert reached["triaje"][1] == pytest.approx(2.0)
    assert reached["activacion"][1] == pytest.approx(3.5)
    assert reached["activacion"][0] == detected + dt.timedelta(days=3.5)
    row = stat(app, reference)
    assert row is not None
    assert row.state == "activado" and row.entered_at == detected + dt.timedelta(days=3.5)

    clock.advance(days=1)
    close(app, reference, "perdida_contacto")
    row = stat(app, reference)
    assert row is not None
    assert row.state == "cerrado" and row.closing == "perdida_contacto"
    assert row.closed_at == detected + dt.timedelta(days=4.5)

    clock.advance(days=1)
    fire(app, "coordinador.rm", reference, "reabrir_sin_plan", {"motivo": "La persona retomó contacto."})
    row = stat(app, reference)
    assert row is not None
    assert row.state == "activado" and row.closed_at is None and row.closing is None
    assert row.entered_at == detected + dt.timedelta(days=3.5)  # not the reopening
    after = steps(app, reference)
    assert after == reached  # milestones keep their first time


def test_a_refused_transition_writes_nothing(app: Flask) -> None:
    reference = file_case(app)
    before = snapshot(app)
    attempts = [
        ("salud.rm", "tomar_caso", None),  # wrong role
        ("coordinador.rm", "activar", {"nodo_lider": "x"}),  # wrong state (not taken) / bad input
        ("coordinador.rm", "cerrar", CIERRE),  # wrong state
        ("gestor.sernameg", "tomar_caso", None),  # no relation
    ]
    for by, action, values in attempts:
        with pytest.raises(REFUSED):
            fire(app, by, reference, action, values)
        assert snapshot(app) == before, f"{by} {action}"
    fire(app, "coordinador.rm", reference, "tomar_caso")
    taken = snapshot(app)
    with pytest.raises(REFUSED):
        fire(app, "coordinador.rm", reference, "tomar_caso")  # twice
    with pytest.raises(REFUSED):  # a stale version
        fire(app, "coordinador.rm", reference, "activar",
             {"nodo_lider": str(node_id(app, "SERNAMEG")), "fundamento": "x"}, version=1)
    assert snapshot(app) == taken
    assert taken != before  # the permitted step did write (the comparison is not vacuous)


@BOTH
def test_erasing_a_case_removes_its_stats_rows(app: Flask) -> None:
    kept, erased = file_case(app), file_case(app)
    activate(app, erased)
    erased_id = case_id(app, erased)
    assert stat(app, erased) is not None and steps(app, erased)
    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), erased, "solicitud_titular", erased)
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert ctx.session.get(CaseStat, erased_id) is None
        assert ctx.session.scalar(select(func.count()).select_from(CaseStatStep)
                                  .where(CaseStatStep.case_id == erased_id)) == 0
        assert ctx.session.scalar(select(func.count()).select_from(CaseStat)) == 1
    assert stat(app, kept) is not None


# -- the Mesa's tables ------------------------------------------------------------------------------


def table(tables: list[Any], key: str) -> Any:
    found = [t for t in tables if t.key == key]
    assert len(found) == 1, [t.key for t in tables]
    return found[0]


def cell(t: Any, row: str, column: str) -> Any:
    """A published cell, or a raw table's true count."""
    lines = t.cells if hasattr(t, "cells") else t.counts
    return lines[t.rows.index(row)][t.columns.index(column)]


def total(raw: Any) -> int:
    return sum(sum(line) for line in raw.counts)


@BOTH
def test_mesa_tables_count_activated_persons_and_every_case_by_state(app: Flask) -> None:
    women = [file_case(app, sexo="F") for _ in range(3)]
    men = [file_case(app, sexo="M", tipo_trata="laboral") for _ in range(2)]
    for reference in [*women, *men[:1]]:
        activate(app, reference)
    waiting = file_case(app, sexo="otro")  # detected only
    fire(app, "coordinador.rm", men[1], "tomar_caso")  # taken, not activated
    close(app, women[0], "objetivos_cumplidos")
    assert waiting
    with unit_of_work(app) as ctx:
        tables = raw_tables(ctx, Filters(), "es")
        published = mesa_tables(ctx, Filters(), "es", threshold=10)
        laboral = raw_tables(ctx, Filters(trafficking_type="laboral"), "es")
        other_region = raw_tables(ctx, Filters(region="CL-TA"), "es")
        next_year = raw_tables(ctx, Filters(period=Period(2027)), "es")
        this_quarter = raw_tables(ctx, Filters(period=Period(2026, 4)), "es")
        narrowed = mesa_tables(ctx, Filters(period=Period(2026)), "es", threshold=10)
    by_sex = table(tables, "personas_sexo")
    assert by_sex.columns == ("2026",)
    assert total(by_sex) == 4  # the activated cases (one since closed still counts)
    assert cell(by_sex, "Femenino", "2026") == 3 and cell(by_sex, "Masculino", "2026") == 1
    assert cell(by_sex, "Otro", "2026") == 0
    for key in ("personas_grupo_edad", "personas_nacionalidad", "personas_tipo_trata", "personas_nna",
                "personas_region"):
        assert total(table(tables, key)) == 4, key
    assert cell(table(tables, "personas_tipo_trata"), "Explotación laboral", "2026") == 1
    states = table(tables, "casos_estado")
    assert total(states) == 6  # every case, activated or not
    assert cell(states, "Detectado", "2026") == 1
    assert cell(states, "Activado (ingresado al Protocolo)", "2026") == 3
    assert cell(states, "Cerrado", "2026") == 1
    closings = table(tables, "casos_termino")
    assert total(closings) == 1 and cell(closings, "Objetivos cumplidos", "2026") == 1
    # published with the threshold at 10: no count of 6 or less is a number (noise is at most 3)
    for t in published:
        assert all(value in (SMALL, "hidden") for line in t.cells for value in line), t.key
        assert t.total == SMALL
    assert total(table(laboral, "personas_sexo")) == 1 and total(table(laboral, "casos_estado")) == 2
    # rows and columns do not depend on the filters: nobody there is still every category and year
    assert table(other_region, "casos_estado").columns == ("2026",) and total(table(other_region, "casos_estado")) == 0
    assert table(other_region, "personas_region").rows == table(tables, "personas_region").rows
    assert len(table(tables, "personas_region").rows) == 16  # every region, not only those with cases
    assert table(next_year, "personas_sexo").columns == ("2027",) and total(table(next_year, "personas_sexo")) == 0
    assert total(table(this_quarter, "casos_estado")) == 6  # 18 November: the fourth quarter
    assert narrowed == []  # a narrowed population of 6 cases: nothing is shown


@BOTH
def test_despeje_outcomes_are_counted_by_reason_smuggling_and_labour_infringement_apart(app: Flask) -> None:
    reasons = ["trafico_migrantes", "trafico_migrantes", "infraccion_laboral", "no_es_trata"]
    references = [file_case(app) for _ in reasons]
    for reference, motivo in zip(references, reasons, strict=True):
        fire(app, "coordinador.rm", reference, "no_activar", {"motivo": motivo, "fundamento": "Sin indicadores."})
    closed = file_case(app)
    activate(app, closed)
    close(app, closed, "objetivos_cumplidos")
    reopened = file_case(app)
    fire(app, "coordinador.rm", reopened, "no_activar", {"motivo": "infraccion_laboral", "fundamento": "Despeje."})
    fire(app, "coordinador.rm", reopened, "reabrir_evaluacion", {"motivo": "Nuevos antecedentes."})
    assert stat(app, references[0]).closing == "trafico_migrantes"
    with unit_of_work(app) as ctx:
        tables = raw_tables(ctx, Filters(), "es")
        english = raw_tables(ctx, Filters(), "en")
    despeje = table(tables, "casos_no_activados")
    assert cell(despeje, "Tráfico de migrantes (no es trata)", "2026") == 2
    assert cell(despeje, "Infracción laboral (no es trata)", "2026") == 1  # the reopened case no longer counts
    assert cell(despeje, "No corresponde a trata de personas", "2026") == 1
    assert total(despeje) == 4
    assert "Migrant smuggling (not trafficking)" in table(english, "casos_no_activados").rows
    closings = table(tables, "casos_termino")  # the two closing forms never mix their codes
    assert total(closings) == 1 and "trafico_migrantes" not in closings.rows


# -- the dashboard -----------------------------------------------------------------------------------


def steady_keys(app: Flask) -> None:
    """Record keys that make the noise of the set of every case 0 (their sum is half the key space), so
    figures over all of them are their true counts: the tests below can then say exactly what is shown."""
    from sqlalchemy import update

    with unit_of_work(app) as ctx:
        ctx.session.execute(update(CaseStat).values(record_key=0))
        first = ctx.session.scalar(select(CaseStat.case_id).limit(1))
        ctx.session.execute(update(CaseStat).where(CaseStat.case_id == first).values(record_key=1 << 30))
        ctx.session.commit()


def test_dashboard_quantiles_of_days_to_a_milestone(app: Flask, clock: Clock) -> None:
    waits = [0.5, 1.0, 2.0, 4.0, 7.25]
    for days in waits:
        reference = file_case(app)
        clock.advance(days=days)
        fire(app, "coordinador.rm", reference, "tomar_caso")
    steady_keys(app)
    with unit_of_work(app) as ctx:
        shown = dashboard(ctx, Filters(), "es", threshold=2)  # 5 cases: 5 ≥ 2 + 3, medians shown
        hidden = dashboard(ctx, Filters(), "es", threshold=3)  # 5 < 3 + 3: 5 could be 2 cases perturbed
    assert shown is not None and hidden is not None
    triage = next(s for s in shown.steps if s.key == "triaje")
    assert shown.cases == 5 and triage.cases == 5
    assert percentile(waits, 0.5) == pytest.approx(2.0) and triage.median_days == 2  # whole days
    assert percentile(waits, 0.9) == pytest.approx(5.95) and triage.p90_days == 6
    activation = next(s for s in shown.steps if s.key == "activacion")
    assert activation.cases == SMALL and activation.median_days is None and activation.p90_days is None
    triage3 = next(s for s in hidden.steps if s.key == "triaje")
    assert triage3.cases == 5 and triage3.median_days is None and triage3.p90_days is None


# PostgreSQL computes the percentiles itself (percentile_cont) and once refused the clocks' query (a GROUP BY
# on expressions with bound parameters): both backends must give the same figures.
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_dashboard_quantiles_agree_on_both_backends(app: Flask, clock: Clock) -> None:
    waits = [3.0, 0.25, 1.5, 10.0, 2.0, 6.0]
    for days in waits:
        reference = file_case(app)
        clock.advance(days=days)
        fire(app, "coordinador.rm", reference, "tomar_caso")
    steady_keys(app)
    with unit_of_work(app) as ctx:
        board = dashboard(ctx, Filters(), "es", threshold=3)  # 6 cases: 6 ≥ 3 + 3
    assert board is not None
    triage = next(s for s in board.steps if s.key == "triaje")
    assert triage.cases == 6
    assert percentile(waits, 0.5) == pytest.approx(2.5) and triage.median_days == 2  # round half to even
    assert percentile(waits, 0.9) == pytest.approx(8.0) and triage.p90_days == 8


@BOTH
def test_a_person_counts_in_the_local_year_of_entry_not_the_utc_one(app: Flask, clock: Clock) -> None:
    # 31 December 2026, 23:30 in Santiago (UTC-3 in summer) is already 1 January 2027 in UTC
    clock.now = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3))).astimezone(dt.UTC)
    reference = file_case(app, sexo="F")
    activate(app, reference)
    with unit_of_work(app) as ctx:
        assert stat(app, reference).entered_at.year == 2027  # type: ignore[union-attr]
        tables = raw_tables(ctx, Filters(), "es")
    by_sex = table(tables, "personas_sexo")
    assert by_sex.columns == ("2026",) and cell(by_sex, "Femenino", "2026") == 1


def test_the_dashboard_shows_the_current_year_unless_a_period_is_chosen(app: Flask, clock: Clock) -> None:
    from ..browser import Browser
    from referral.demo.network import DEMO_PASSWORD

    app.config["STATS_MIN_CELL"] = 2  # figures for a handful of cases (the population rule needs 10)
    for _ in range(14):  # at least 11 once perturbed: above the 10 the population rule needs
        file_case(app)
    clock.advance(days=400)  # 23 December 2027
    for _ in range(30):
        file_case(app)
    browser = Browser(app, DEMO_PASSWORD)
    browser.login("auditor")
    default = browser.get("/auditoria/tablero").text
    assert '<option selected value="2027">' in default  # the period used is shown in the form
    assert len(re.findall(r"(\d+) casos con Ficha recibida", default)) == 1
    current = int(re.findall(r"(\d+) casos con Ficha recibida", default)[0])
    assert 27 <= current <= 33  # the 30 of 2027, perturbed
    everything = browser.get("/auditoria/tablero?periodo=").text
    assert 41 <= int(re.findall(r"(\d+) casos con Ficha recibida", everything)[0]) <= 47
    earlier = browser.get("/auditoria/tablero?periodo=2026").text
    assert 11 <= int(re.findall(r"(\d+) casos con Ficha recibida", earlier)[0]) <= 17
