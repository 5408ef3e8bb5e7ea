"""The auditors' pages: statistics (the Mesa's tables), the process dashboard, anonymised timelines and
their exports. Every route needs the `audit` capability; none shows or exports a case reference, a name
or any personal datum (tests/stats/test_stats_views.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import format_percent
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..audit.service import record
from ..network.models import Region
from ..auth.fresh import recently_verified
from ..web.access import needs
from ..web.context import current_ctx, language
from ..workflow.statistics import category_label
from . import charts
from .dashboard import dashboard, default_period
from .disclosure import min_population
from .export import csv_bytes, tables_csv, tables_xlsx, timeline_csv, timeline_xlsx
from .figures import Filters, Period, mesa_tables, periods, too_narrow
from .report import report_tables
from .tables import HIDDEN, SMALL, Cell, shown
from .timeline import EXPORT_LIMIT, K_TIMELINES, case_list, export_fields, export_rows, timeline

from .forms import FilterForm, YearForm

bp = Blueprint("stats", __name__, url_prefix="/auditoria")


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value, format="#,##0%")


@bp.app_template_filter("stat_cell")
def stat_cell(value: Cell, threshold: int) -> str:
    """A published figure: the number, «<10» for a small one, «x» for one hidden to protect another."""
    if value == SMALL:
        return f"<{threshold}"
    if value == HIDDEN:
        return "x"
    return str(value)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _exporting() -> bool:
    """A download (CSV or XLSX) rather than the page: a sensitive step that needs a recent sign-in."""
    return request.args.get("formato") in ("csv", "xlsx")


def _period_choices(default: str) -> list[tuple[str, str]]:
    ctx = current_ctx()
    today = ctx.now().astimezone(ctx.timezone).date()
    return [("", default)] + [(p.key, p.label(language())) for p in periods(ctx, today)]


def _filters(grid: bool = True) -> tuple[FilterForm, Filters]:
    """The filters asked for; a value off the grid (a range of days, an unknown region) is refused (400).
    `grid=False`: the period alone (timelines: region and type would single cases out)."""
    ctx = current_ctx()
    lang = language()
    form = FilterForm(request.args)
    form.periodo.label.text = _("Período")
    form.region.label.text = _("Región de detección")
    form.tipo.label.text = _("Tipo de trata")
    form.periodo.choices = _period_choices(_("Todos los años"))
    if not grid:
        del form.region, form.tipo
        if not form.validate():
            abort(400)
        return form, Filters(period=Period.parse(form.periodo.data or ""))
    form.region.choices = [("", _("Todas"))] + [
        (r.code, r.name) for r in ctx.session.scalars(select(Region).order_by(Region.position))]
    spec = ctx.definition.statistics
    kind = spec.dimensions.get(spec.trafficking_type or "")
    codes: list[tuple[str, str]] = []
    if kind is not None and kind.field:
        form_key, _dot, name = kind.field.partition(".")
        codes = [(c.value, category_label(ctx.definition, kind, c.value, lang))
                 for c in ctx.definition.form(form_key).field(name).choices]
    form.tipo.choices = [("", _("Todos"))] + codes
    if not form.validate():
        abort(400)
    return form, Filters(form.region.data or None, Period.parse(form.periodo.data or ""), form.tipo.data or None)


def _query(form: FilterForm) -> str:
    """The filters in force as a query string (for the download links): only fields on the grid."""
    return urlencode([(field.name, field.data) for field in form if field.data])


def _threshold() -> int:
    return int(current_app.config.get("STATS_MIN_CELL", 10))


def _k() -> int:
    return int(current_app.config.get("TIMELINE_K", K_TIMELINES))


def _marks_note() -> str:
    n = str(_threshold())
    return _("«<{n}»: menos de {n} (incluido cero). «x»: oculto para que no se deduzca otra celda. Las cifras "
             "llevan una perturbación aleatoria pequeña y estable, por lo que los totales pueden no coincidir con "
             "la suma de sus celdas.").replace("{n}", n)


def _download(body: bytes, name: str, content_type: str) -> Response:
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _audit_export(what: str, fmt: str) -> None:
    ctx = current_ctx()
    record(ctx, "export.audit", role=current_user.role, node_id=current_user.node_id,
           details={"what": what, "format": fmt})
    ctx.session.commit()


def _stamp() -> str:
    return dt.date.today().isoformat()


@bp.get("/estadisticas")
@needs("audit")
@recently_verified(only_if=_exporting)
def statistics() -> Any:
    form, filters = _filters()
    lang = language()
    ctx = current_ctx()
    narrow = too_narrow(ctx, filters, _threshold())
    tables = [] if narrow else mesa_tables(ctx, filters, lang, _threshold())
    fmt = request.args.get("formato")
    if fmt in ("csv", "xlsx"):
        _audit_export("estadisticas", fmt)
        marks = {SMALL: f"<{_threshold()}", HIDDEN: "x"}
        note = _too_narrow_text() if narrow else _marks_note()
        if fmt == "csv":
            return _download(csv_bytes(tables_csv(tables, marks, _("Total"), note)),
                             f"estadisticas-{_stamp()}.csv", "text/csv; charset=utf-8")
        return _download(tables_xlsx(tables, _("Total"), marks, note), f"estadisticas-{_stamp()}.xlsx", XLSX)
    per_year = [charts.column_chart(t.title, [(c, shown(v)) for c, v in zip(t.columns, t.column_totals, strict=True)],
                                    _("personas"), decimal_comma=lang == "es", empty=_("Sin datos"))
                for t in tables[:1] if t.columns]
    return render_template("stats/statistics.html", form=form, tables=tables, charts=per_year, narrow=narrow,
                           narrow_text=_too_narrow_text(), marks=_marks_note(), threshold=_threshold(),
                           query=_query(form))


def _too_narrow_text() -> str:
    return _("Con estos filtros hay menos de {n} casos: las cifras podrían identificar a alguien, por eso no se "
             "muestran. Elija un período más largo o quite un filtro.").replace("{n}",
                                                                                str(min_population(_threshold())))


@bp.get("/informe-anual")
@needs("audit")
@recently_verified(only_if=_exporting)
def annual_report() -> Any:
    """The year's report: every table the workflow's `statistics.report` declares, published like the
    statistics page's; as a page, a print view with its charts (`vista=imprimir`), CSV or XLSX."""
    ctx = current_ctx()
    lang = language()
    today = ctx.now().astimezone(ctx.timezone).date()
    offered = [p.year for p in periods(ctx, today) if p.quarter is None]
    form = YearForm(request.args)
    form.anio.label.text = _("Año")
    form.anio.choices = [(str(year), str(year)) for year in offered]
    if not form.validate() or (form.anio.data and not form.anio.data.isdigit()):
        abort(400)
    year = int(form.anio.data) if form.anio.data else (today.year - 1 if today.year - 1 in offered else today.year)
    form.anio.data = str(year)
    filters = Filters(period=Period(year))
    narrow = too_narrow(ctx, filters, _threshold())
    tables = [] if narrow else report_tables(ctx, filters, lang, _threshold())
    fmt = request.args.get("formato")
    title = ctx.definition.statistics.report.title.get(lang)
    if fmt in ("csv", "xlsx"):
        _audit_export("informe_anual", fmt)
        marks = {SMALL: f"<{_threshold()}", HIDDEN: "x"}
        note = f"{title}, {year}. " + (_too_narrow_text() if narrow else _marks_note())
        if fmt == "csv":
            return _download(csv_bytes(tables_csv(tables, marks, _("Total"), note)),
                             f"informe-anual-{year}.csv", "text/csv; charset=utf-8")
        return _download(tables_xlsx(tables, _("Total"), marks, note), f"informe-anual-{year}.xlsx", XLSX)
    units = {t.key: _("causas") if t.count == "proceedings" else _("personas")
             for t in ctx.definition.statistics.report.tables}
    figures = [(t, charts.bar_chart(t.title, [(label, shown(v)) for label, v in zip(t.rows, t.row_totals, strict=True)],
                                    units.get(t.key, _("personas")), decimal_comma=lang == "es", empty=_("Sin datos")))
               for t in tables]
    template = "stats/report_print.html" if request.args.get("vista") == "imprimir" else "stats/report.html"
    return render_template(template, form=form, year=year, title=title, figures=figures, narrow=narrow,
                           narrow_text=_too_narrow_text(), marks=_marks_note(), threshold=_threshold(),
                           query=urlencode([("anio", year)]))


@bp.get("/tablero")
@needs("audit")
def board() -> Any:
    form, filters = _filters()
    if "periodo" not in request.args:  # no period chosen: the current year, shown in the form
        period = default_period(current_ctx())
        form.periodo.data = period.key
        filters = dataclasses.replace(filters, period=period)
    lang = language()
    board = dashboard(current_ctx(), filters, lang, _threshold())
    if board is None:
        return render_template("stats/dashboard.html", form=form, board=None, narrow_text=_too_narrow_text())
    comma = lang == "es"
    step_chart = charts.range_chart(_("Días desde la detección"), [(s.label, s.median_days, s.p90_days)
                                                                   for s in board.steps], _("días"),
                                    median_label=_("mediana"), p90_label=_("percentil 90"), decimal_comma=comma,
                                    empty=_("Sin datos"))
    month_chart = charts.column_chart(board.months.title, list(zip(board.months.rows,
                                                                   (shown(row[0]) for row in board.months.cells),
                                                                   strict=True)),
                                      _("casos"), decimal_comma=comma, empty=_("Sin datos"))
    return render_template("stats/dashboard.html", form=form, board=board, step_chart=step_chart,
                           month_chart=month_chart, marks=_marks_note())


@bp.get("/casos")
@needs("audit")
@recently_verified(only_if=_exporting)
def cases() -> Any:
    form, filters = _filters(grid=False)
    page = max(1, request.args.get("pagina", 1, type=int) or 1)
    rows, total = case_list(current_ctx(), current_user.node_id, filters.period, language(), page, k=_k())
    fmt = request.args.get("formato")
    if fmt in ("csv", "xlsx"):
        _audit_export("lineas_de_tiempo", fmt)
        exported, cut = export_rows(current_ctx(), current_user.node_id, filters.period, language(), k=_k())
        fields = export_fields(current_ctx())
        if fmt == "csv":
            return _download(csv_bytes(timeline_csv(exported, fields)), f"lineas-de-tiempo-{_stamp()}.csv",
                             "text/csv; charset=utf-8")
        return _download(timeline_xlsx(exported, fields), f"lineas-de-tiempo-{_stamp()}.xlsx", XLSX)
    return render_template("stats/cases.html", form=form, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // 50)), limit=EXPORT_LIMIT, k=_k(), query=_query(form))


@bp.get("/casos/<name>")
@needs("audit")
def case_timeline(name: str) -> Any:
    found = timeline(current_ctx(), current_user.node_id, name, language(), k=_k())
    if found is None:
        abort(404)
    return render_template("stats/timeline.html", t=found, k=_k())
