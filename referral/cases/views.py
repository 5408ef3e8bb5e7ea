"""Case pages: file a Ficha, worklists, the case, its forms, its actions. Thin: services decide."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from ..choices import ChoiceProvider
from ..web.access import needs
from ..web.confirm import confirmed
from ..web.context import current_ctx, language
from ..web.unit import attempt
from ..web.errors import on_conflict
from ..web.dynamic_forms import (
    add_row_requested, build_form_class, initial_data, layout, problem_list, values_of,
)
from ..workflow import Text, TransitionRefused
from ..workflow.forms import FormDef
from ..audit.reads import audit_read
from .compare import compare_revisions
from .drafts import RETENTION, discard_draft, draft_form, draft_values_of, file_from_page, my_drafts, save_draft, send_draft
from .editing import save_form
from .notes import case_notes
from .printing import print_view
from .attachments import case_attachments
from .meetings import case_meetings
from ..kernel.errors import DuplicateSubmission
from .assignment import assign, assignment_panel, check_assign
from .inbox import (Filters, filter_options, inbox_page, inboxes_for, my_cases_page, parse_filters,
                    responsible_cases_page)
from .search import parse_query, search_cases
from .reading import case_page, editable_values, form_revision, prefill_values, return_comments
from .transitions import check_transition, fire_transition

from .forms import AssignForm, SearchForm, VersionForm

bp = Blueprint("cases", __name__)


def _form_for(form: FormDef, *, region: str | None = None, hidden: tuple[str, ...] = (),
              data: dict[str, Any] | None = None) -> FlaskForm:
    ctx = current_ctx()
    cls = build_form_class(form, ChoiceProvider(ctx.session, language()), language(), region=region, hidden=hidden)
    return cls(data=data) if data is not None and request.method == "GET" else cls()


def _render_form(template: str, form: FormDef, wtform: FlaskForm, errors: Mapping[str, Sequence[Text]], status: int,
                 **extra: Any) -> tuple[str, int]:
    lang = language()
    sections = layout(form, wtform, errors, lang)
    return render_template(template, form_def_label=form.label.get(lang),
                           description=form.description.get(lang) if form.description else "",
                           wtform=wtform, sections=sections, problems=problem_list(sections), **extra), status


def _version(wtform: FlaskForm) -> int:
    raw = str(wtform.case_version.data or "")
    if not re.fullmatch(r"[0-9]{1,9}", raw):  # not isdigit(): it accepts "²", and int() refuses huge numbers
        abort(400)
    return int(raw)


SAVE_DRAFT = "guardar_borrador"  # the name of the «Guardar borrador» button


def _render_intake(form: FormDef, wtform: FlaskForm, errors: Mapping[str, Sequence[Text]], status: int,
                   draft_id: uuid.UUID | None) -> tuple[str, int]:
    return _render_form("cases/intake.html", form, wtform, errors, status, draft_id=draft_id,
                        retention_days=RETENTION.days)


@bp.route("/fichas/nueva", methods=["GET", "POST"])
@needs("file_intake")
def new_intake() -> Any:
    ctx = current_ctx()
    form = ctx.definition.form(ctx.definition.intake.form)
    wtform = _form_for(form, hidden=("intake_token",))
    if request.method == "GET":
        wtform.intake_token.data = secrets.token_urlsafe(24)
        return _render_intake(form, wtform, {}, 200, None)
    if SAVE_DRAFT in request.form:
        return _save_draft(form, wtform, None)
    return _send_intake(form, wtform, None)


@bp.get("/borradores")
@needs("file_intake")
def drafts() -> Any:
    return render_template("cases/drafts.html", drafts=my_drafts(current_ctx(), current_user, language()),
                           retention_days=RETENTION.days)


@bp.route("/borradores/<uuid:draft_id>", methods=["GET", "POST"])
@needs("file_intake")
def draft(draft_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    if request.method == "POST" and SAVE_DRAFT not in request.form:
        try:  # a second click on «Enviar» finds the draft gone and is shown the case the first one filed
            form = draft_form(ctx, current_user, draft_id, request.form.get("intake_token", ""))
        except DuplicateSubmission as duplicate:
            flash(_("Esta Ficha ya había sido enviada; este es el caso que se abrió con ella."), "info")
            return redirect(url_for("cases.show", reference=duplicate.reference), 303)
        return _send_intake(form, _form_for(form, hidden=("intake_token",)), draft_id)
    record, form, values = draft_values_of(ctx, current_user, draft_id)
    wtform = _form_for(form, hidden=("intake_token",), data=initial_data(form, values))
    if request.method == "GET":
        wtform.intake_token.data = record.token
        return _render_intake(form, wtform, {}, 200, draft_id)
    return _save_draft(form, wtform, draft_id)


@bp.post("/borradores/<uuid:draft_id>/descartar")
@needs("file_intake")
def discard(draft_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    discard_draft(ctx, current_user, draft_id)
    ctx.session.commit()
    flash(_("Borrador descartado: se eliminó junto con su clave."), "success")
    return redirect(url_for("cases.drafts"), 303)


def _save_draft(form: FormDef, wtform: FlaskForm, draft_id: uuid.UUID | None) -> Any:
    """«Guardar borrador»: anything of the right type is kept, however incomplete."""
    ctx = current_ctx()
    errors: Mapping[str, Sequence[Text]] = {}
    if wtform.validate():
        with attempt(report=False, done=_("Borrador guardado, cifrado. Solo usted lo ve, en «Mis borradores», "
                                          "hasta que lo envíe.")) as outcome:
            saved = save_draft(ctx, current_user, values_of(form, wtform), wtform.intake_token.data or "", draft_id)
        if outcome.ok:
            return redirect(url_for("cases.draft", draft_id=saved.id), 303)
        errors = outcome.errors
    flash(_("El borrador no se guardó: revise los campos marcados. Lo escrito se conserva."), "error")
    return _render_intake(form, wtform, errors, 400, draft_id)


def _send_intake(form: FormDef, wtform: FlaskForm, draft_id: uuid.UUID | None) -> Any:
    """«Enviar Ficha»: file the case (from the page, or from a draft, which then goes)."""
    ctx = current_ctx()
    errors: Mapping[str, Sequence[Text]] = {}
    token = wtform.intake_token.data or ""
    if wtform.validate():
        sent = _("Esta Ficha ya había sido enviada; este es el caso que se abrió con ella.")
        with attempt(report=False, already={DuplicateSubmission: sent},
                     done=_("Ficha enviada. El punto focal regional la verá en su bandeja de triaje.")) as outcome:
            if draft_id is None:
                case = file_from_page(ctx, current_user, values_of(form, wtform), token)
            else:
                case = send_draft(ctx, current_user, draft_id, values_of(form, wtform), token)
        if isinstance(outcome.already, DuplicateSubmission):
            return redirect(url_for("cases.show", reference=outcome.already.reference), 303)
        if outcome.ok:
            return redirect(url_for("cases.show", reference=case.reference), 303)
        errors = outcome.errors
    flash(_("La Ficha no se envió: revise los campos marcados. Lo escrito se conserva."), "error")
    return _render_intake(form, wtform, errors, 400, draft_id)


def _filters() -> Filters:
    """The worklist filters of the query string; anything not in the definition or directory is a 400."""
    filters = parse_filters(current_ctx(), request.args.get("region"), request.args.get("estado"),
                            request.args.getlist("senal"), request.args.get("vencidos", ""))
    if filters is None:
        abort(400)
    return filters


def _render_worklist(page: Any) -> Any:
    ctx, lang = current_ctx(), language()
    return render_template("cases/inbox.html", page=page, inboxes=inboxes_for(ctx, current_user), lang=lang,
                           options=filter_options(ctx, lang), text_action=request.full_path.rstrip("?"))


def _text_filter() -> str:
    """The worklist's text filter: posted (with CSRF), never in the query string, never kept."""
    return request.form.get("texto", "") if request.method == "POST" else ""


@bp.route("/bandeja/<key>", methods=["GET", "POST"])
@needs("case_access")
def inbox(key: str) -> Any:
    page = inbox_page(current_ctx(), current_user, key, language(), request.args.get("pagina", 1, type=int),
                      _filters(), _text_filter())
    if page is None:
        abort(404)
    return _render_worklist(page)


@bp.route("/casos", methods=["GET", "POST"])
@needs("case_access")
def my_cases() -> Any:
    return _render_worklist(my_cases_page(current_ctx(), current_user, language(),
                                          request.args.get("pagina", 1, type=int), _filters(), _text_filter()))


@bp.route("/mis-casos", methods=["GET", "POST"])
@needs("case_access")
def responsible_cases() -> Any:
    """«Mis casos»: the cases the user is responsible for at her node (issue 16)."""
    return _render_worklist(responsible_cases_page(current_ctx(), current_user, language(),
                                                   request.args.get("pagina", 1, type=int), _filters(),
                                                   _text_filter()))


@bp.get("/casos/<reference>")
@needs("case_access")
def show(reference: str) -> Any:
    return _render_case(reference, 200)


def _render_case(reference: str, status: int, chosen: dict[str, str] | None = None) -> Any:
    ctx = current_ctx()
    view = case_page(ctx, current_user, reference, language())
    notes = case_notes(ctx, current_user, reference, language())  # its read event is committed by audit_read
    attachments = case_attachments(ctx, current_user, reference, language())  # idem
    meetings = case_meetings(ctx, current_user, reference, language())
    audit_read(ctx, current_user, view.case_id, "case")
    assignment = assignment_panel(ctx, current_user, view.case_id, view.version, language())
    return render_template("cases/case.html", view=view, network=view.network, action_form=FlaskForm(), notes=notes,
                           attachments=attachments, meetings=meetings, assignment=assignment,
                           assignment_chosen=chosen or {}), status


@bp.post("/casos/<reference>/responsable")
@needs("case_access")
def assign_responsible(reference: str) -> Any:
    """Name the person responsible for the case at the user's node, or take it for herself (issue 16).
    Who may is decided before the form is read; the service checks the person and the reason code."""
    ctx = current_ctx()
    check_assign(ctx, current_user, reference)
    wtform = AssignForm()
    person, reason = str(wtform.responsable.data or ""), str(wtform.motivo.data or "")
    chosen = {"responsable": person, "motivo": reason}
    if not wtform.validate() or not re.fullmatch(r"[0-9]{1,9}", person):
        flash(_("No se cambió el responsable: elija a una persona de la lista."), "error")
        return _render_case(reference, 400, chosen)
    version = _version(wtform)
    with attempt(done=_("Responsable del caso actualizado.")) as outcome:
        assign(ctx, current_user, reference, int(person), reason or None, version)
    if not outcome.ok:
        return _render_case(reference, 400, chosen)
    return redirect(url_for("cases.show", reference=reference), 303)


@bp.get("/casos/<reference>/formularios/<form_key>")
@needs("case_access")
def view_form(reference: str, form_key: str) -> Any:
    from ..referrals.reading import refer_links, row_states

    revision = request.args.get("revision", type=int)
    case, form_view = form_revision(current_ctx(), current_user, reference, form_key, revision, language())
    links = refer_links(current_ctx(), current_user, reference, form_key, language()) \
        if form_view is not None and revision is None else ()
    states = row_states(current_ctx(), current_user, reference, form_key, language()) \
        if form_view is not None and revision is None else ()
    if form_view is not None:
        audit_read(current_ctx(), current_user, case.id, f"form:{form_key}", revision=form_view.revision)
    return render_template("cases/form_view.html", reference=case.reference, form_view=form_view,
                           form_key=form_key, refer_links=links, row_states=states)


@bp.get("/casos/<reference>/formularios/<form_key>/imprimir")
@needs("case_access")
def print_form(reference: str, form_key: str) -> Any:
    """A revision of an instrument as a clean document to print (issue 16): what the form view shows this
    reader and nothing more, with the case reference, the revision and the reader's node."""
    raw = request.args.get("revision")
    if raw is not None and not re.fullmatch(r"[1-9][0-9]{0,8}", raw):
        abort(400)
    ctx = current_ctx()
    view = print_view(ctx, current_user, reference, form_key, int(raw) if raw else None, language())
    audit_read(ctx, current_user, view.case_id, f"print:{form_key}", revision=view.form.revision)
    return render_template("cases/form_print.html", doc=view, form_key=form_key)


@bp.get("/casos/<reference>/formularios/<form_key>/comparar")
@needs("case_access")
def compare(reference: str, form_key: str) -> Any:
    """Two revisions of one form, field by field; the query string carries revision numbers only."""
    first, second = request.args.get("de", type=int), request.args.get("a", type=int)
    if first is None or second is None or not (0 < first < 10**9 and 0 < second < 10**9):
        abort(400)
    ctx = current_ctx()
    comparison = compare_revisions(ctx, current_user, reference, form_key, first, second, language())
    audit_read(ctx, current_user, comparison.case_id, f"form:{form_key}", revision=comparison.after.revision,
               compared_with=comparison.before.revision)
    return render_template("cases/compare.html", comparison=comparison)


@bp.route("/casos/<reference>/formularios/<form_key>/editar", methods=["GET", "POST"])
@needs("case_access")
def edit_form(reference: str, form_key: str) -> Any:
    ctx = current_ctx()
    case, form, values = editable_values(ctx, current_user, reference, form_key)
    wtform = _form_for(form, region=case.region_code, hidden=("case_version",), data=initial_data(form, values))
    comments = return_comments(ctx, case, form_key, language())
    extra = {"reference": case.reference, "form_key": form_key, "comments": comments}
    if request.method == "GET":
        wtform.case_version.data = str(case.version)
        return _render_form("cases/edit.html", form, wtform, {}, 200, **extra)
    group = add_row_requested(form, request.form)
    if group is not None:  # «add a row»: show the form again with one more row, nothing saved
        wtform[group].append_entry()
        return _render_form("cases/edit.html", form, wtform, {}, 200, **extra)
    errors: Mapping[str, Sequence[Text]] = {}
    if wtform.validate():
        on_conflict(lambda status: _render_form("cases/edit.html", form, wtform, {}, status, **extra))
        with attempt(report=False, done=_("Guardado.")) as outcome:
            save_form(ctx, current_user, reference, form_key, values_of(form, wtform), _version(wtform))
        if outcome.ok:
            return redirect(url_for("cases.show", reference=reference), 303)
        errors = outcome.errors
    flash(_("No se guardó: revise los campos marcados. Lo escrito se conserva."), "error")
    return _render_form("cases/edit.html", form, wtform, errors, 400, **extra)


@bp.route("/casos/<reference>/acciones/<key>", methods=["GET", "POST"])
@needs("case_access")
def act(reference: str, key: str) -> Any:
    ctx = current_ctx()
    try:
        case, transition = check_transition(ctx, current_user, reference, key)
    except TransitionRefused as refused:
        if refused.code in ("forbidden", "unknown") or request.method == "POST":
            raise  # the error page says why, with 403, 404 or 409
        flash(refused.reason.get(language()), "error")  # a stale link: back to the case, with the reason
        return redirect(url_for("cases.show", reference=reference), 303)
    form = ctx.definition.form(transition.form) if transition.form else None
    prefill: dict[str, Any] = {}
    if form is not None and transition.prefill and request.method == "GET":
        case, prefill = prefill_values(ctx, current_user, reference, transition)
        if prefill:
            audit_read(ctx, current_user, case.id, f"form:{form.key}")
    wtform = _form_for(form, region=case.region_code, hidden=("case_version",),
                       data=initial_data(form, prefill) if prefill else None) if form else VersionForm()
    extra = {"reference": case.reference, "action_label": transition.label.get(language()),
             "action_help": transition.help.get(language()) if transition.help else "", "style": transition.style,
             "confirm": transition.confirm.get(language()) if transition.confirm else "", "confirm_missing": False}
    if request.method == "GET":
        wtform.case_version.data = str(case.version)
        return _render_action(form, wtform, {}, 200, extra)
    errors: Mapping[str, Sequence[Text]] = {}
    if transition.confirm is not None and not confirmed():
        extra["confirm_missing"] = True  # a destructive step: nothing is done until the user confirms it
        wtform.validate()
        flash(_("No se registró: esta acción pide confirmación. Marque «Confirmo» para hacerla."), "error")
        return _render_action(form, wtform, {}, 400, extra)
    if wtform.validate():
        values = values_of(form, wtform) if form else None
        on_conflict(lambda status: _render_action(form, wtform, {}, status, extra))
        try:
            with attempt(report=False, done=_("Acción registrada: %(action)s.", action=extra["action_label"])) as outcome:
                fire_transition(ctx, current_user, reference, key, values, _version(wtform))
        except TransitionRefused as refused:  # rolled back
            if refused.code == "forbidden":
                raise
            for reason in refused.reasons:  # every guard that refuses what was typed, not only the first
                flash(reason.get(language()), "error")
            return _render_action(form, wtform, {}, 409, extra)
        if outcome.ok:
            return redirect(url_for("cases.show", reference=reference), 303)
        errors = outcome.errors
    flash(_("No se registró la acción: revise los campos marcados. Lo escrito se conserva."), "error")
    return _render_action(form, wtform, errors, 400, extra)


def _render_action(form: FormDef | None, wtform: FlaskForm, errors: Mapping[str, Sequence[Text]], status: int,
                   extra: dict[str, Any]) -> tuple[str, int]:
    if form is None:
        return render_template("cases/action.html", wtform=wtform, sections=[], problems=[], form_def_label="",
                               description="", **extra), status
    return _render_form("cases/action.html", form, wtform, errors, status, **extra)


# -- finding a case (issue 16): the query travels in a POST body only, and is never logged nor kept --------


@bp.route("/buscar", methods=["GET", "POST"])
@needs("case_access")
def search() -> Any:
    form = SearchForm()
    if request.method == "GET":
        return render_template("cases/search.html", form=form, result=None, problem=None)
    problem = None
    if not form.validate():
        problem = _("La fecha de nacimiento no es válida.")
    elif not (form.q.data or "").strip():
        problem = _("Escriba una referencia, un número de documento, o nombres y apellidos con la fecha de "
                    "nacimiento.")
    if problem is not None:
        return render_template("cases/search.html", form=form, result=None, problem=problem), 400
    ctx = current_ctx()
    result = search_cases(ctx, current_user, parse_query(form.q.data or "", form.nacimiento.data), language())
    ctx.session.commit()  # the audit event of the search, the only thing written
    if result.redirect_to is not None:
        return redirect(url_for("cases.show", reference=result.redirect_to), 303)
    return render_template("cases/search.html", form=form, result=result, problem=None)
