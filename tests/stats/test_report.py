"""The annual report (issue 18 part 1): each declared table counts what its rule says, on both databases; every
figure goes through the disclosure control; the auditor's attacks on the new tables find nothing below the
threshold (and the same attack breaks an exact publication of the same tables); the page, its print view and
its downloads are for auditors only."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from scipy.optimize import linprog
from sqlalchemy import event

from referral.stats.disclosure import perturb
from referral.stats.figures import Filters, Period, raw_tables
from referral.stats.report import raw_report, report_tables
from referral.stats.suppression import publish
from referral.stats.tables import HIDDEN, SMALL, RawTable, Table

from ..factories import causa_values
from ..referrals import answer, refer
from ..referrals.test_nna import activate as activate_child
from ..referrals.test_nna import child_case, communicate, refer_mejor_ninez
from ..steps import LEAD, activate, fire, save
from ..steps import file_case
from ..units import unit_of_work

BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
DAY = dt.date(2026, 11, 18)
GRANT = {"fecha_resolucion": DAY, "numero_permiso": "RT-1", "vigencia_inicio": DAY, "vigencia_fin": dt.date(2027, 11, 18)}
RESIDENCIA = {"finalidad": "regularizar", "exencion_costos": True, "certificacion": "en_tramite",
              "tipo_documento": "pasaporte", "numero_documento": "VE4417829", "pais_documento": "VE",
              "situacion_migratoria_actual": "irregular", "peligro_grave": True, "fecha_preparacion": DAY,
              "permiso_trabajo": True}
LEADER = f"gestor.{LEAD.lower()}"


def table(tables: list[Any], key: str) -> Any:
    found = [t for t in tables if t.key == key]
    assert len(found) == 1, [t.key for t in tables]
    return found[0]


def cell(t: RawTable, row: str, column: str) -> int:
    return t.counts[t.rows.index(row)][t.columns.index(column)]


def row_total(t: RawTable, row: str) -> int:
    assert t.row_totals is not None
    return t.row_totals[t.rows.index(row)][0]


def report(app: Flask, **filters: Any) -> list[RawTable]:
    with unit_of_work(app) as ctx:
        return raw_report(ctx, Filters(**filters), "es")


# -- what each table counts ------------------------------------------------------------------------------


@BOTH
def test_the_annual_report_counts_each_table_by_its_rule(app: Flask) -> None:
    woman = file_case(app, sexo="F", medios=["engano", "coaccion"], riesgos_inmediatos=["tratante_busca"])
    second = file_case(app, sexo="F", tipo_trata="laboral", fines=["trabajos_forzados"], medios=["engano"])
    man = file_case(app, sexo="M", tipo_trata="laboral", nacionalidad="BO", situacion_migratoria="regular", medios=[])
    for reference in (woman, second, man):
        activate(app, reference)
    smuggled = file_case(app, sexo="M")
    fire(app, "coordinador.rm", smuggled, "no_activar", {"motivo": "trafico_migrantes", "fundamento": "Despeje."})
    waiting = file_case(app, sexo="otro")  # detected only: no person entered
    # services: a shelter referred and done for the woman, a health referral only asked for the man
    urgent = {"override_reason": "riesgo_vital", "override_note": "Sin lugar seguro esta noche."}
    shelter = refer(app, woman, "SERNAMEG", service="alojamiento", **urgent)
    answer(app, woman, shelter, "aceptar", LEADER)
    answer(app, woman, shelter, "cumplir", LEADER)
    refer(app, man, "MINSAL-CL-RM", service="salud_mental", **urgent)
    # a residence permit granted to the man
    fire(app, LEADER, man, "iniciar_residencia")
    save(app, LEADER, man, "solicitud_residencia", RESIDENCIA)
    fire(app, LEADER, man, "presentar_residencia")
    fire(app, "migraciones", man, "otorgar_residencia", GRANT)
    # one causa (the same RUC) with both women, formalised with its accused; a second causa not yet formalised
    for reference in (woman, second):
        fire(app, "coordinador.rm", reference, "registrar_causa", causa_values())
    fire(app, "coordinador.rm", woman, "formalizar_causa", {"fecha": DAY, "imputados_nacionalidad": [
        {"nacionalidad": "PE", "numero": 2}, {"nacionalidad": "CL", "numero": 1}]})
    fire(app, "coordinador.rm", second, "formalizar_causa", {"fecha": DAY, "imputados_nacionalidad": [
        {"nacionalidad": "PE", "numero": 2}]})
    fire(app, "coordinador.rm", woman, "terminar_causa", {"tipo": "condena", "fecha": DAY, "condenados_nacionalidad": [
        {"nacionalidad": "PE", "numero": 1}]})
    fire(app, "coordinador.rm", man, "registrar_causa", causa_values(ruc="2300999999-1"))
    assert waiting
    # a girl of 15 at detection, entered with Mejor Niñez and the communication the law asks for
    girl = child_case(app)
    refer_mejor_ninez(app, girl)
    communicate(app, girl)
    activate_child(app, girl)
    # the woman's Informe Social records her education
    fire(app, LEADER, woman, "iniciar_informe")
    save(app, LEADER, woman, "informe_social", {"nivel_educacional": "tecnica"})

    tables = report(app)
    sex_type = table(tables, "personas_sexo_tipo")
    assert sex_type.columns == ("Explotación sexual", "Explotación laboral", "Otra", "Sin información")
    assert cell(sex_type, "Femenino", "Explotación sexual") == 2 and cell(sex_type, "Femenino", "Explotación laboral") == 1
    assert cell(sex_type, "Masculino", "Explotación laboral") == 1 and sex_type.total[0] == 4  # the girl too
    # a multiple choice: a person counts in each row she ticked; the totals count persons
    means = table(tables, "delito_medios")
    assert cell(means, "Engaño", "2026") == 3 and cell(means, "Coacción", "2026") == 1
    assert cell(means, "Sin información", "2026") == 1  # the man's Ficha says none
    assert means.total[0] == 4 and sum(sum(line) for line in means.counts) == 5  # the girl: engaño
    assert cell(table(tables, "persona_riesgos"), "El tratante busca a la víctima", "2026") == 1
    assert cell(table(tables, "persona_situacion_migratoria"), "Regular", "2026") == 1
    # the same persons give the same figure in every table: the cross-table's total is the one-way table's
    with unit_of_work(app) as ctx:
        page = raw_tables(ctx, Filters(), "es")
    assert sum(sum(line) for line in table(page, "personas_sexo").counts) == sex_type.total[0] == means.total[0]
    # services: requested and provided, and the type of the receiving institution
    services = table(tables, "servicios_prestacion")
    shelter_label = "Alojamiento o casa de acogida"
    assert cell(services, shelter_label, "Solicitado") == 1 and cell(services, shelter_label, "Prestado") == 1
    assert cell(services, "Salud mental o psicológica", "Solicitado") == 1
    assert cell(services, "Salud mental o psicológica", "Prestado") == 0
    assert services.total[0] == 3  # only persons with a service (the girl: Mejor Niñez)
    by_type = table(tables, "servicios_tipo_nodo")
    assert row_total(by_type, shelter_label) == 1 and by_type.total[0] == 3
    # permits granted, in the year granted; despeje by reason
    permits = table(tables, "residencias_otorgadas")
    assert cell(permits, "Bolivia", "2026") == 1 and permits.total[0] == 1
    despeje = table(tables, "no_activados_motivo")
    assert cell(despeje, "Tráfico de migrantes (no es trata)", "2026") == 1 and despeje.total[0] == 1
    # causas: two victims of one formalised causa count one causa; the unformalised one is not counted
    causas = table(tables, "causas_estado")
    assert causas.total[0] == 1 and cell(causas, "Terminada", "2026") == 1
    assert cell(table(tables, "causas_victimas"), "2", "2026") == 1
    accused = table(tables, "causas_imputados")
    assert cell(accused, "Perú", "2026") == 1 and cell(accused, "Chile", "2026") == 1 and accused.total[0] == 1
    assert cell(table(tables, "causas_condenados"), "Perú", "2026") == 1
    assert cell(table(tables, "causas_termino"), "Sentencia condenatoria", "2026") == 1
    # the NNA table counts children only, in the child's brackets
    children = table(tables, "nna_edad_sexo")
    assert children.total[0] == 1 and cell(children, "14–17", "Femenino") == 1
    assert cell(table(tables, "personas_edad_sexo"), "14–17", "Femenino") == 1
    education = table(tables, "persona_educacion")
    assert cell(education, "Técnica", "2026") == 1 and cell(education, "Sin información", "2026") == 3
    assert cell(table(tables, "delito_fines"), "Trabajos o servicios forzados", "2026") == 1
    assert cell(table(tables, "delito_ambito"), "Internacional", "2026") == 4
    # rows never depend on the filters: a year without anyone still lists Bolivia (no «nobody» by omission)
    empty = report(app, period=Period(2025))
    assert table(empty, "residencias_otorgadas").rows == permits.rows
    assert table(empty, "residencias_otorgadas").columns == ("2025",) and table(empty, "residencias_otorgadas").total[0] == 0
    assert table(report(app, region="CL-TA"), "personas_nacionalidad_sexo").rows == \
        table(tables, "personas_nacionalidad_sexo").rows


def test_every_report_figure_is_perturbed_and_small_ones_never_shown(app: Flask) -> None:
    """Published tables: every number is its true count plus at most the documented noise, at least the
    threshold; a marked cell hides a count; the same persons always give the same figure."""
    references = [file_case(app, sexo="F" if i % 3 else "M", tipo_trata="laboral" if i % 2 else "sexual")
                  for i in range(14)]
    for reference in references:
        activate(app, reference)
    with unit_of_work(app) as ctx:
        raws = raw_report(ctx, Filters(), "es")
        published = report_tables(ctx, Filters(), "es", threshold=3)
    assert [t.key for t in published] == [r.key for r in raws]
    shown_numbers = 0
    for raw, t in zip(raws, published, strict=True):
        for true, key, value in _figures(raw, t):
            if isinstance(value, int):
                shown_numbers += 1
                assert value >= 3 and value == perturb(true, key), (t.key, true, value)
            else:
                assert value in (SMALL, HIDDEN)
    assert shown_numbers > 20
    by_year = {t.key: t.total for t in published if t.key.startswith(("personas_", "delito_", "persona_"))}
    assert len(set(by_year.values())) == 1, by_year  # 14 persons, one figure wherever they are counted


def _figures(raw: RawTable, t: Table) -> list[tuple[int, int, Any]]:
    assert raw.row_totals is not None and raw.column_totals is not None and raw.total is not None
    out = [(n, k, v) for counts, keys, values in zip(raw.counts, raw.keys, t.cells, strict=True)
           for n, k, v in zip(counts, keys, values, strict=True)]
    out += [(n, k, v) for (n, k), v in zip(raw.row_totals, t.row_totals, strict=True)]
    out += [(n, k, v) for (n, k), v in zip(raw.column_totals, t.column_totals, strict=True)]
    out.append((*raw.total, t.total))
    return out


# -- the auditor as attacker ---------------------------------------------------------------------------------

NOISE = 3


def _bounds(value: Any, threshold: int, noise: int) -> tuple[float, float | None]:
    """What a published figure tells the attacker of its true count (the method is public)."""
    if value == SMALL:
        return 0, threshold - 1 + noise
    if value == HIDDEN:
        return 0, None
    return max(0, value - noise), value + noise


def _pinned(tables: list[Table], threshold: int, size: tuple[int, int],
            noise: int) -> dict[tuple[int, int], tuple[float, float]]:
    """The interval of every inner cell of a rows × columns cross-table that the attacker gets from an LP over
    the cross-table and the one-way tables of the same persons (its rows' and columns' margins, published
    on their own in other tables): the cell counts x ≥ 0 must fit every published figure."""
    cross, *margins = tables
    height, width = size
    n = height * width
    a_ub: list[list[float]] = []
    b_ub: list[float] = []

    def between(coefficients: list[float], low: float, high: float | None) -> None:
        a_ub.append([-c for c in coefficients])
        b_ub.append(-low)
        if high is not None:
            a_ub.append(coefficients)
            b_ub.append(high)

    for i, j in itertools.product(range(height), range(width)):
        between([1.0 if k == i * width + j else 0.0 for k in range(n)], *_bounds(cross.cells[i][j], threshold, noise))
    for source in (cross, *margins):
        rows = source.row_totals if source is cross else ()
        for i, value in enumerate(rows):
            between([1.0 if k // width == i else 0.0 for k in range(n)], *_bounds(value, threshold, noise))
        columns = source.column_totals if source is cross else ()
        for j, value in enumerate(columns):
            between([1.0 if k % width == j else 0.0 for k in range(n)], *_bounds(value, threshold, noise))
        between([1.0] * n, *_bounds(source.total, threshold, noise))
    for margin in margins:  # a one-way table over the cross-table's rows (or columns): its cells are their sums
        along_rows = margin.rows == cross.rows
        for index, line in enumerate(margin.cells):
            if along_rows:
                between([1.0 if k // width == index else 0.0 for k in range(n)], *_bounds(line[0], threshold, noise))
            else:
                between([1.0 if k % width == index else 0.0 for k in range(n)], *_bounds(line[0], threshold, noise))
    intervals = {}
    for i, j in itertools.product(range(height), range(width)):
        objective = [1.0 if k == i * width + j else 0.0 for k in range(n)]
        low = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=[(0, None)] * n, method="highs")
        high = linprog([-c for c in objective], A_ub=a_ub, b_ub=b_ub, bounds=[(0, None)] * n, method="highs")
        assert low.status == 0 and high.status == 0
        intervals[(i, j)] = (low.fun, -high.fun)
    return intervals


def _exact(raw: RawTable, threshold: int) -> Table:
    """The same table published exactly: true counts, small ones as «<T», no noise, no complements."""
    assert raw.row_totals is not None and raw.column_totals is not None and raw.total is not None

    def mark(n: int) -> Any:
        return SMALL if n < threshold else n

    return Table(raw.key, raw.title, raw.rule, raw.row_header, raw.rows, raw.columns,
                 tuple(tuple(mark(n) for n in line) for line in raw.counts),
                 tuple(mark(n) for n, _ in raw.row_totals), tuple(mark(n) for n, _ in raw.column_totals),
                 mark(raw.total[0]), threshold, 0, 0)


def _one_way(raw: RawTable, along_rows: bool) -> RawTable:
    """The margin of a cross-table as its own one-way table over the same persons (what the statistics page
    and the other report tables publish of them)."""
    assert raw.row_totals is not None and raw.column_totals is not None and raw.total is not None
    pairs = raw.row_totals if along_rows else raw.column_totals
    labels = raw.rows if along_rows else raw.columns
    return RawTable(raw.key + ("_rows" if along_rows else "_columns"), raw.title, raw.rule, raw.row_header, labels,
                    ("all",), tuple((n,) for n, _ in pairs), tuple((k,) for _, k in pairs),
                    row_totals=pairs, column_totals=(raw.total,), total=raw.total)


def test_the_auditor_who_combines_a_cross_table_with_its_margins_pins_no_small_cell(app: Flask) -> None:
    """The attack of issue 13 on the new cross-tables: the sex × type table with the one-way tables by sex and by
    type (same persons, published elsewhere), solved as an LP over the published figures with the documented
    noise. No cell whose true count is 1..T−1 is pinned to one integer; the same LP against an exact publication
    of the same tables pins some (the attack works)."""
    threshold = 3
    # the men's row: one small cell (2) among shown ones, so an exact publication gives it away by subtraction
    plan = [("M", "sexual")] * 2 + [("M", tipo) for tipo in ("laboral", "otra", "sin_informacion") for _ in range(3)] + \
        [("F", "sexual")] * 4 + [("F", "laboral")] * 3
    for sexo, tipo in plan:
        activate(app, file_case(app, sexo=sexo, tipo_trata=tipo))
    with unit_of_work(app) as ctx:
        raw = table(raw_report(ctx, Filters(), "es"), "personas_sexo_tipo")
    size = (len(raw.rows), len(raw.columns))
    real = [publish(raw, threshold), publish(_one_way(raw, True), threshold), publish(_one_way(raw, False), threshold)]
    exact = [_exact(raw, threshold), _exact(_one_way(raw, True), threshold), _exact(_one_way(raw, False), threshold)]
    small = {(i, j) for i, j in itertools.product(range(size[0]), range(size[1])) if 0 < raw.counts[i][j] < threshold}
    assert small, "the population must hold small cells to attack"

    def pinned(tables: list[Table], noise: int) -> set[tuple[int, int]]:
        intervals = _pinned(tables, threshold, size, noise)
        return {(i, j) for (i, j) in small if intervals[(i, j)][1] - intervals[(i, j)][0] < 1 - 1e-6
                and round(intervals[(i, j)][0]) == raw.counts[i][j]}

    assert pinned(exact, 0), "the control attack should break the exact publication"
    assert pinned(real, NOISE) == set()


def test_a_year_with_few_cases_shows_no_table(app: Flask) -> None:
    for _ in range(4):
        activate(app, file_case(app))
    with unit_of_work(app) as ctx:
        assert report_tables(ctx, Filters(period=Period(2026)), "es") == []
        assert report_tables(ctx, Filters(), "es")  # unfiltered figures are shown (marked small)


# -- the pages --------------------------------------------------------------------------------------------


def test_the_auditor_prints_and_downloads_the_years_report(app: Flask, make_browser: Any) -> None:
    for i in range(60):  # enough persons in 2026 for the report to be shown
        activate(app, file_case(app, sexo="F" if i % 2 else "M"))
    auditor = make_browser()
    auditor.login("auditor")
    page = auditor.get("/auditoria/informe-anual?anio=2026")
    assert page.status_code == 200
    assert "Personas ingresadas por sexo y tipo de trata" in page.text and "Regla de conteo" in page.text
    printed = auditor.get("/auditoria/informe-anual?anio=2026&vista=imprimir")
    assert printed.status_code == 200 and "<svg" in printed.text and 'class="print-page"' in printed.text
    assert "Cerrar sesión" not in printed.text  # no navigation in the print view
    xlsx = auditor.get("/auditoria/informe-anual?anio=2026&formato=xlsx")
    assert xlsx.status_code == 200
    workbook = load_workbook(io.BytesIO(xlsx.data))
    with unit_of_work(app) as ctx:
        declared = ctx.definition.statistics.report.tables
    assert len(workbook.sheetnames) == len(declared)
    assert workbook.worksheets[0]["A1"].value == "Personas ingresadas por sexo y tipo de trata"
    for name in ("Yulimar", "VE4417829"):  # nothing personal in any download
        assert name not in page.text and name.encode() not in xlsx.data
    assert auditor.get("/auditoria/informe-anual?anio=2026-06-01").status_code == 400  # no ranges of days
    assert auditor.get("/auditoria/informe-anual?anio=1999").status_code == 400


def _statements(app: Flask) -> list[str]:
    with unit_of_work(app) as ctx:
        statements: list[str] = []
        engine = ctx.session.get_bind()
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            raw_report(ctx, Filters(period=Period(2026)), "es")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    return statements


def test_the_reports_statements_do_not_grow_with_the_cases(app: Flask) -> None:
    """One grouped statement per table the database counts, and a fixed few for those counted unit by unit:
    never one per case (an N+1 fails here)."""
    for _ in range(2):
        activate(app, file_case(app))
    few = _statements(app)
    for _ in range(4):
        activate(app, file_case(app))
    more = _statements(app)
    with unit_of_work(app) as ctx:
        tables = len(ctx.definition.statistics.report.tables)
    assert len(more) == len(few) <= tables + 6, more
