"""The plan's pages: monitoring per eje and per institution, progress reports, editing, the semester report.
Thin: referral/plan/service.py and reading.py decide; every route declares who may reach it."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..stats import charts
from ..stats.export import timeline_xlsx
from ..web.access import needs, needs_any
from ..web.context import current_ctx, language
from ..web.unit import attempt
from . import reading, service
from .evidence import MAX_MB, open_evidence
from .models import INDICATOR_KINDS, REPORTED_STATUSES
from .status import parse_semester, semester_of, semesters

from .forms import ActionForm, InstitutionForm, IssueForm, PlanForm, ProgressForm

bp = Blueprint("plan", __name__, url_prefix="/plan")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_INDICATORS = 3
FORM_NAMES = {"meta": "goal"}  # a service's field name -> the form's, where they differ


def _named(key: str) -> str:
    return FORM_NAMES.get(key, key)


def _today() -> Any:
    return current_ctx().local_now().date()


def _reportable(ctx: Any, plan: Any) -> list[int]:
    code = service.node_code(ctx, current_user)
    return [a.id for a in reading.plan_actions(ctx, plan) if service.reports_for(ctx, current_user, a, code)]


def _status_chart(title: str, tally: reading.Tally) -> str:
    return charts.bar_chart(title, [(_("A tiempo"), tally.on_time), (_("Atrasadas"), tally.late),
                                    (_("Cumplidas"), tally.done)], _("acciones"), empty=_("Sin datos"))


def _done_chart(title: str, tallies: list[reading.Tally]) -> str:
    return charts.bar_chart(title, [(t.label, t.done_percent) for t in tallies], "%", empty=_("Sin datos"))


# -- reading ---------------------------------------------------------------------------------------


@bp.get("")
@needs_any(*service.READERS)
def index() -> Any:
    ctx = current_ctx()
    return render_template("plan/index.html", plans=service.plans(ctx), may_manage=service.may_manage(ctx, current_user))


@bp.get("/<int:plan_id>")
@needs_any(*service.READERS)
def overview(plan_id: int) -> Any:
    ctx = current_ctx()
    plan = service.get_plan(ctx, plan_id)
    rows = reading.action_rows(ctx, plan, language(), _today(), _reportable(ctx, plan))
    ejes, institutions = reading.tallies_by_eje(plan, rows), reading.tallies_by_institution(plan, rows)
    manager = service.may_manage(ctx, current_user)  # reports for every action: no list of «her» pending ones
    return render_template(
        "plan/overview.html", plan=plan, ejes=ejes, institutions=institutions, total=reading.tally("", "", rows),
        mine=[] if manager else [r for r in rows if r.may_report and r.status != "cumplida"],
        eje_chart=_done_chart(_("Acciones cumplidas por eje (%)"), ejes),
        institution_chart=_done_chart(_("Acciones cumplidas por institución (%)"), institutions),
        semesters=[f"{y}-{h}" for y, h in semesters(plan.starts_on, plan.ends_on)],
        current="{}-{}".format(*semester_of(_today())), may_manage=manager)


@bp.get("/<int:plan_id>/ejes/<int:number>")
@needs_any(*service.READERS)
def eje(plan_id: int, number: int) -> Any:
    ctx = current_ctx()
    plan = service.get_plan(ctx, plan_id)
    found = service.get_eje(ctx, plan_id, number)
    rows = [r for r in reading.action_rows(ctx, plan, language(), _today(), _reportable(ctx, plan))
            if r.eje_number == number]
    tally = reading.tally(str(number), found.title, rows)
    return render_template("plan/actions.html", plan=plan, heading=_("Eje %(n)s: %(title)s", n=number, title=found.title),
                           lead=found.objective, coordinator=found.coordinator.name if found.coordinator else "",
                           rows=rows, tally=tally, chart=_status_chart(_("Estado de las acciones"), tally),
                           eje=found, may_manage=service.may_manage(ctx, current_user))


@bp.get("/<int:plan_id>/instituciones/<key>")
@needs_any(*service.READERS)
def institution(plan_id: int, key: str) -> Any:
    ctx = current_ctx()
    plan = service.get_plan(ctx, plan_id)
    found = service.get_institution(ctx, plan_id, key)
    rows = [r for r in reading.action_rows(ctx, plan, language(), _today(), _reportable(ctx, plan))
            if r.responsible_key == key]
    tally = reading.tally(key, found.name, rows)
    return render_template("plan/actions.html", plan=plan, heading=found.name, lead="", coordinator="",
                           rows=rows, tally=tally, chart=_status_chart(_("Estado de las acciones"), tally),
                           institution=found, may_manage=service.may_manage(ctx, current_user))


@bp.get("/<int:plan_id>/avances/<progress_id>/evidencia")
@needs_any(*service.READERS)
def evidence(plan_id: int, progress_id: str) -> Any:
    ctx = current_ctx()
    row = service.get_progress(ctx, plan_id, progress_id)
    service.evidence_read(ctx, current_user, row)
    document = open_evidence(ctx, row)
    ctx.session.commit()  # the download's audit event, before the first byte leaves
    response = Response(stream_with_context(document.chunks), mimetype=document.content_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(document.size)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"evidencia.{document.name.rsplit('.', 1)[-1]}\"; "
                                               f"filename*=UTF-8''{quote(document.name, safe='')}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<int:plan_id>/informe")
@needs_any(*service.READERS)
def semester_report(plan_id: int) -> Any:
    ctx, lang = current_ctx(), language()
    plan = service.get_plan(ctx, plan_id)
    chosen = parse_semester(request.args.get("semestre", ""))
    if chosen is None:
        abort(400)
    report = reading.semester_report(ctx, plan, chosen[0], chosen[1], lang, _today())
    if request.args.get("formato") == "xlsx":
        body = timeline_xlsx(reading.report_records(report, lang), reading.report_fields(lang),
                             _("Avance %(y)s-%(h)s", y=report.year, h=report.half))
        response = Response(body, content_type=XLSX)
        response.headers["Content-Disposition"] = f'attachment; filename="informe-avance-{report.year}-{report.half}.xlsx"'
        return response
    issue = IssueForm(semestre=report.key) if service.may_manage(ctx, current_user) else None
    return render_template("plan/report_print.html", plan=plan, report=report, issue=issue,
                           chart=_done_chart(_("Acciones cumplidas por eje (%)"), report.tallies))


@bp.post("/<int:plan_id>/informe/emitir")
@needs("plan_manage")
def issue_report(plan_id: int) -> Any:
    """The secretariat issues the semester's report: its deadline is met (once; a second click says so)."""
    ctx = current_ctx()
    plan = service.get_plan(ctx, plan_id)
    form = IssueForm()
    chosen = parse_semester(form.semestre.data or "")
    if not form.validate_on_submit() or chosen is None:
        abort(400)
    issued = service.issue_semester_report(ctx, current_user, plan, *chosen)
    ctx.session.commit()
    flash(_("Informe de avance emitido: su plazo queda cumplido.") if issued
          else _("Este informe ya estaba emitido (o no tenía plazo)."), "ok" if issued else "info")
    return redirect(url_for("plan.semester_report", plan_id=plan.id, semestre=f"{chosen[0]}-{chosen[1]}"))


# -- reporting progress (plan_report) -------------------------------------------------------------


def _progress_input(form: ProgressForm) -> service.ProgressInput:
    upload = form.evidence.data
    chosen = upload is not None and bool(getattr(upload, "filename", ""))
    return service.ProgressInput(
        status=form.status.data or "", values=(form.value_0.data or "", form.value_1.data or "", form.value_2.data or ""),
        reference=form.reference.data or "", filename=upload.filename if chosen else "",
        read=upload.stream.read if chosen else None)


@bp.route("/<int:plan_id>/acciones/<int:action_id>/avance", methods=["GET", "POST"])
@needs("plan_report")
def report(plan_id: int, action_id: int) -> Any:
    ctx, lang = current_ctx(), language()
    action = service.get_action(ctx, plan_id, action_id)
    if not service.reports_for(ctx, current_user, action):
        raise service.NotYourAction()
    form = ProgressForm()
    form.status.choices = [("", _("Elija"))] + [(s, reading.STATUS_LABELS[s].get(lang)) for s in REPORTED_STATUSES]
    status = 200
    if form.is_submitted():
        if form.validate():
            with attempt(form, done=_("Avance registrado."), rename=_named,
                         already={service.ProgressAlreadyRecorded: _("Este avance ya había sido registrado.")}) as outcome:
                service.record_progress(ctx, current_user, plan_id, action_id, _progress_input(form), form.token.data or "")
            if outcome.finished:
                return redirect(url_for("plan.eje", plan_id=plan_id, number=action.eje_number), 303)
        flash(_("No se registró el avance: revise los campos marcados. Lo escrito se conserva; "
                "el archivo debe elegirse otra vez."), "error")
        status = 400
    else:
        form.token.data = secrets.token_urlsafe(24)
    return render_template("plan/report.html", plan=action.linea.eje.plan, action=action, form=form, max_mb=MAX_MB,
                           values=[(getattr(form, f"value_{n}"), indicator["text"], _value_help(indicator["kind"]))
                                   for n, indicator in enumerate(action.indicators[:MAX_INDICATORS])]), status


def _value_help(kind: str) -> str:
    label = service.indicator_kind_label(kind).get(language())
    return f"{label}: " + (_("escriba «si» o «no»") if kind == "si_no" else _("un número entero, 0 o mayor"))


# -- editing (plan_manage) ------------------------------------------------------------------------


def _action_form(ctx: Any, plan_id: int, action: Any | None) -> ActionForm:
    lang = language()
    form = ActionForm()
    plan = service.get_plan(ctx, plan_id)
    form.responsible.choices = [("", _("Ninguna"))] + [(i.key, i.name) for i in plan.institutions]
    kinds = [(k, service.indicator_kind_label(k).get(lang)) for k in INDICATOR_KINDS]
    for n in range(MAX_INDICATORS):
        getattr(form, f"indicator_kind_{n}").choices = kinds
    if action is not None and not form.is_submitted():
        form.description.data, form.goal.data = action.description, action.meta
        form.due_on.data = action.due_on.isoformat() if action.due_on else ""
        form.responsible.data = action.responsible.key if action.responsible else ""
        for n, indicator in enumerate(action.indicators[:MAX_INDICATORS]):
            getattr(form, f"indicator_{n}").data = indicator["text"]
            getattr(form, f"indicator_kind_{n}").data = indicator["kind"]
    return form


def _action_fields(form: ActionForm) -> service.ActionFields:
    return service.ActionFields(
        description=form.description.data or "", meta=form.goal.data or "", due_on=form.due_on.data or "",
        responsible=form.responsible.data or "",
        indicators=tuple((getattr(form, f"indicator_{n}").data or "", getattr(form, f"indicator_kind_{n}").data or "")
                         for n in range(MAX_INDICATORS)))


@bp.route("/<int:plan_id>/acciones/<int:action_id>/editar", methods=["GET", "POST"])
@needs("plan_manage")
def edit_action(plan_id: int, action_id: int) -> Any:
    ctx = current_ctx()
    action = service.get_action(ctx, plan_id, action_id)
    form = _action_form(ctx, plan_id, action)
    if form.is_submitted():
        if form.validate():
            with attempt(form, done=_("Acción guardada."), rename=_named) as outcome:
                service.edit_action(ctx, current_user, plan_id, action_id, _action_fields(form))
            if outcome.ok:
                return redirect(url_for("plan.eje", plan_id=plan_id, number=action.eje_number), 303)
        flash(_("No se guardó: revise los campos marcados. Lo escrito se conserva."), "error")
        return _action_page(form, action.linea.eje.plan, action, None), 400
    return _action_page(form, action.linea.eje.plan, action, None)


@bp.route("/<int:plan_id>/ejes/<int:number>/lineas/<int:linea>/nueva-accion", methods=["GET", "POST"])
@needs("plan_manage")
def new_action(plan_id: int, number: int, linea: int) -> Any:
    ctx = current_ctx()
    found = service.get_eje(ctx, plan_id, number)
    if not any(line.number == linea for line in found.lineas):
        raise service.PlanNotFound()
    form = _action_form(ctx, plan_id, None)
    if form.is_submitted():
        if form.validate():
            with attempt(form, done=_("Acción agregada."), rename=_named) as outcome:
                service.new_action(ctx, current_user, plan_id, number, linea, _action_fields(form))
            if outcome.ok:
                return redirect(url_for("plan.eje", plan_id=plan_id, number=number), 303)
        flash(_("No se guardó: revise los campos marcados. Lo escrito se conserva."), "error")
        return _action_page(form, found.plan, None, (found, linea)), 400
    return _action_page(form, found.plan, None, (found, linea))


def _action_page(form: ActionForm, plan: Any, action: Any | None, place: Any) -> str:
    return render_template("plan/action_form.html", form=form, plan=plan, action=action, place=place,
                           indicators=[(getattr(form, f"indicator_{n}"), getattr(form, f"indicator_kind_{n}"))
                                       for n in range(MAX_INDICATORS)])


@bp.route("/<int:plan_id>/instituciones/<key>/editar", methods=["GET", "POST"])
@needs("plan_manage")
def edit_institution(plan_id: int, key: str) -> Any:
    ctx = current_ctx()
    found = service.get_institution(ctx, plan_id, key)
    form = InstitutionForm()
    if not form.is_submitted():
        form.name.data, form.node_codes.data = found.name, " ".join(found.node_codes)
    elif form.validate():
        with attempt(form, done=_("Institución guardada."), rename=_named) as outcome:
            service.edit_institution(ctx, current_user, plan_id, key, form.name.data or "", form.node_codes.data or "")
        if outcome.ok:
            return redirect(url_for("plan.institution", plan_id=plan_id, key=key), 303)
    if form.is_submitted():
        flash(_("No se guardó: revise los campos marcados. Lo escrito se conserva."), "error")
        return render_template("plan/institution_form.html", form=form, plan=found.plan, institution=found), 400
    return render_template("plan/institution_form.html", form=form, plan=found.plan, institution=found)


@bp.route("/nuevo", methods=["GET", "POST"])
@needs("plan_manage")
def new_plan() -> Any:
    ctx = current_ctx()
    form = PlanForm()
    form.copy_from.choices = [("", _("Vacío"))] + [(str(p.id), p.title) for p in service.plans(ctx)]
    if form.is_submitted():
        if form.validate():
            with attempt(form, done=_("Plan creado."), rename=_named) as outcome:
                plan = service.create_plan(ctx, current_user, service.PlanFields(
                    form.key.data or "", form.title.data or "", form.starts_on.data or "", form.ends_on.data or "",
                    form.copy_from.data or ""))
            if outcome.ok:
                return redirect(url_for("plan.overview", plan_id=plan.id), 303)
        flash(_("No se guardó: revise los campos marcados. Lo escrito se conserva."), "error")
        return render_template("plan/plan_form.html", form=form), 400
    return render_template("plan/plan_form.html", form=form)
