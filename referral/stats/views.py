"""The auditors' pages: statistics (the Mesa's tables), the process dashboard, anonymised timelines and
their exports. Every route needs the `audit` capability; none shows or exports a case reference, a name
or any personal datum (tests/stats/test_stats_views.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from ..network.models import Region
from ..web.access import needs
from ..web.context import current_ctx, language
from ..audit.service import record
from ..workflow.statistics import category_label
from . import charts
from .dashboard import dashboard, default_since
from .export import csv_bytes, tables_csv, tables_xlsx, timeline_csv, timeline_xlsx
from .figures import Filters, mesa_tables
from .timeline import EXPORT_LIMIT, case_list, export_fields, export_rows, timeline

bp = Blueprint("stats", __name__, url_prefix="/auditoria")


@bp.app_template_filter("decimal")
def decimal(value: float | None) -> str:
    """One decimal in the reader's locale («1,5»); «—» for a figure not shown."""
    return "—" if value is None else format_decimal(value, format="#,##0.0")


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value, format="#,##0%")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class FilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that only narrows what is shown

    region = SelectField(validators=[Optional()])
    since = DateField(validators=[Optional()])
    until = DateField(validators=[Optional()])
    tipo = SelectField(validators=[Optional()])


def _filters() -> tuple[FilterForm, Filters]:
    ctx = current_ctx()
    lang = language()
    form = FilterForm(request.args)
    form.region.label.text = _("Región de detección")
    form.since.label.text = _("Desde")
    form.until.label.text = _("Hasta")
    form.tipo.label.text = _("Tipo de trata")
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
    return form, Filters(form.region.data or None, form.since.data, form.until.data, form.tipo.data or None)


def _threshold() -> int:
    return int(current_app.config.get("STATS_MIN_CELL", 5))


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
def statistics() -> Any:
    form, filters = _filters()
    lang = language()
    tables = mesa_tables(current_ctx(), filters, lang, _threshold())
    fmt = request.args.get("formato")
    if fmt in ("csv", "xlsx"):
        _audit_export("estadisticas", fmt)
        mark = f"<{_threshold()}"
        note = _("Celdas con menos de {n} personas ocultas («{mark}»), y otras ocultas para que no se deduzcan "
                 "de los totales.").replace("{n}", str(_threshold())).replace("{mark}", mark)
        if fmt == "csv":
            return _download(csv_bytes(tables_csv(tables, mark, _("Total"), note)),
                             f"estadisticas-{_stamp()}.csv", "text/csv; charset=utf-8")
        return _download(tables_xlsx(tables, _("Total"), mark, note), f"estadisticas-{_stamp()}.xlsx", XLSX)
    per_year = [charts.column_chart(t.title, list(zip(t.columns, t.column_totals, strict=True)), _("personas"),
                                    decimal_comma=lang == "es", empty=_("Sin datos"))
                for t in tables[:1] if t.columns]
    return render_template("stats/statistics.html", form=form, tables=tables, charts=per_year,
                           threshold=_threshold(), query=request.query_string.decode())


@bp.get("/tablero")
@needs("audit")
def board() -> Any:
    form, filters = _filters()
    if "since" not in request.args and filters.since is None:  # no period chosen: the last 365 days, shown
        form.since.data = default_since(current_ctx())
        filters = dataclasses.replace(filters, since=form.since.data)
    lang = language()
    board = dashboard(current_ctx(), filters, lang, _threshold())
    comma = lang == "es"
    step_chart = charts.range_chart(_("Días desde la detección"), [(s.label, s.median_days, s.p90_days)
                                                                   for s in board.steps], _("días"),
                                    median_label=_("mediana"), p90_label=_("percentil 90"), decimal_comma=comma,
                                    empty=_("Sin datos"))
    month_chart = charts.column_chart(board.months.title, list(zip(board.months.rows,
                                                                   (row[0] for row in board.months.cells),
                                                                   strict=True)),
                                      _("casos"), decimal_comma=comma, empty=_("Sin datos"))
    return render_template("stats/dashboard.html", form=form, board=board, step_chart=step_chart,
                           month_chart=month_chart)


@bp.get("/casos")
@needs("audit")
def cases() -> Any:
    form, filters = _filters()
    page = max(1, request.args.get("pagina", 1, type=int) or 1)
    rows, total = case_list(current_ctx(), current_user.node_id, filters, language(), page)
    fmt = request.args.get("formato")
    if fmt in ("csv", "xlsx"):
        _audit_export("lineas_de_tiempo", fmt)
        exported, cut = export_rows(current_ctx(), current_user.node_id, filters, language(), _threshold())
        fields = export_fields(current_ctx())
        if fmt == "csv":
            return _download(csv_bytes(timeline_csv(exported, fields)), f"lineas-de-tiempo-{_stamp()}.csv",
                             "text/csv; charset=utf-8")
        return _download(timeline_xlsx(exported, fields), f"lineas-de-tiempo-{_stamp()}.xlsx", XLSX)
    return render_template("stats/cases.html", form=form, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // 50)), limit=EXPORT_LIMIT)


@bp.get("/casos/<name>")
@needs("audit")
def case_timeline(name: str) -> Any:
    found = timeline(current_ctx(), current_user.node_id, name, language())
    if found is None:
        abort(404)
    return render_template("stats/timeline.html", t=found)
