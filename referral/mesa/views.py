"""The Mesa Intersectorial's pages: the Mesas, one Mesa's sessions, recording a session, one session, marking an
agreement done. Thin: referral/mesa/service.py decides and reading.py shows."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, FieldList, Form, FormField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms import TextAreaField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..cases.errors import InvalidInput
from ..web.form_errors import apply_errors
from ..web.access import needs, needs_any
from ..web.context import current_ctx, language
from ..workflow import Text
from .reading import meeting_of_agreement, mesa_page, mesas_overview, own_open_agreements, session_view
from .service import (
    AgreementAlreadyDone, AgreementInput, MeetingAlreadyRecorded, MeetingInput, MinutesAlreadyRecorded, add_minutes,
    complete_agreement, may_manage, mesa_of, node_choices, open_agreement, record_meeting,
)

bp = Blueprint("mesa", __name__)
READERS = ("plan_manage", "plan_report", "audit")
AGREEMENT_ROWS = 5  # rows of the form; blank ones are ignored


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AgreementRow(Form):
    text = StringField()
    responsible = SelectField(validate_choice=False)
    due_on = DateField(validators=[Optional()])


class SessionForm(FlaskForm):
    token = HiddenField()
    held_on = DateField(validators=[Optional()])
    present = _Checkboxes(validate_choice=False)
    minutes = TextAreaField()
    agreements = FieldList(FormField(AgreementRow), min_entries=AGREEMENT_ROWS, max_entries=AGREEMENT_ROWS)


class MinutesForm(FlaskForm):
    minutes = TextAreaField()


class DoneForm(FlaskForm):
    agreement = HiddenField()  # the agreement the page showed: a form posted elsewhere (or empty) is refused


def _node_ids(raw: list[str] | None) -> tuple[int, ...]:
    return tuple(int(v) for v in raw or () if v.isascii() and v.isdigit() and len(v) < 10)


def _apply_errors(form: FlaskForm, errors: dict[str, list[Text]]) -> None:
    apply_errors(form, errors, language())


def _values(form: SessionForm) -> MeetingInput:
    rows = tuple(AgreementInput(text=row.form.text.data or "", responsible=(_node_ids([row.form.responsible.data or ""])
                                or (None,))[0], due_on=row.form.due_on.data) for row in form.agreements.entries)
    return MeetingInput(form.held_on.data, _node_ids(form.present.data), form.minutes.data or "", rows)


@bp.get("/mesa")
@needs_any(*READERS)
def index() -> Any:
    ctx = current_ctx()
    return render_template("mesa/index.html", mesas=mesas_overview(ctx, language()),
                           own=own_open_agreements(ctx, current_user),
                           coordination_body=ctx.protocol.country.coordination_body.get(language()))


@bp.get("/mesa/<key>")
@needs_any(*READERS)
def mesa(key: str) -> Any:
    return render_template("mesa/mesa.html", page=mesa_page(current_ctx(), current_user, key, language()))


@bp.route("/mesa/<key>/sesiones/nueva", methods=["GET", "POST"])
@needs("plan_manage")
def new_session(key: str) -> Any:
    ctx, lang = current_ctx(), language()
    target = mesa_of(ctx, key)  # MesaNotFound: 404
    form = SessionForm()
    choices = [(str(n), name) for n, name in node_choices(ctx, target)]
    form.present.choices = choices
    for row in form.agreements.entries:
        row.form.responsible.choices = [("", _("Elija"))] + choices
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                meeting = record_meeting(ctx, current_user, target, _values(form), form.token.data or "")
            except InvalidInput as invalid:
                ctx.session.rollback()
                _apply_errors(form, invalid.errors)
            except MeetingAlreadyRecorded:  # a second click: the first one recorded it
                ctx.session.rollback()
                flash(_("Esta sesión ya había sido registrada."), "info")
                return redirect(url_for("mesa.mesa", key=target.key), 303)
            else:
                ctx.session.commit()
                flash(_("Sesión registrada; cada acuerdo tiene su plazo."), "success")
                return redirect(url_for("mesa.session", meeting_id=meeting.id), 303)
        flash(_("No se registró la sesión: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
    else:
        form.token.data = secrets.token_urlsafe(24)
    return render_template("mesa/session_new.html", form=form, mesa_key=target.key,
                           mesa_label=target.label.get(lang)), status


@bp.get("/mesa/sesiones/<int:meeting_id>")
@needs_any(*READERS)
def session(meeting_id: int) -> Any:
    ctx = current_ctx()
    return render_template("mesa/session.html", view=session_view(ctx, current_user, meeting_id, language()),
                           done_form=DoneForm(), minutes_form=MinutesForm() if may_manage(ctx, current_user) else None)


@bp.post("/mesa/sesiones/<int:meeting_id>/acta")
@needs("plan_manage")
def minutes(meeting_id: int) -> Any:
    """The minutes of a session recorded without them (approved later): once."""
    ctx = current_ctx()
    view = session_view(ctx, current_user, meeting_id, language())  # MesaNotFound: 404 before the form
    form = MinutesForm()
    if not form.validate() or not (form.minutes.data or "").strip():
        abort(400)
    try:
        add_minutes(ctx, current_user, meeting_id, form.minutes.data or "")
    except MinutesAlreadyRecorded:
        ctx.session.rollback()
        flash(_("Esta sesión ya tenía acta."), "info")
    except InvalidInput:
        ctx.session.rollback()
        flash(_("El acta es demasiado larga; no se registró."), "error")
        return render_template("mesa/session.html", view=view, done_form=DoneForm(), minutes_form=form), 400
    else:
        ctx.session.commit()
        flash(_("Acta registrada."), "success")
    return redirect(url_for("mesa.session", meeting_id=meeting_id), 303)


@bp.get("/mesa/acuerdos/<int:agreement_id>")
@needs_any(*READERS)
def agreement(agreement_id: int) -> Any:
    """Where a notification's link leads: the agreement on its session's page."""
    meeting_id = meeting_of_agreement(current_ctx(), agreement_id)
    return redirect(url_for("mesa.session", meeting_id=meeting_id, _anchor=f"acuerdo-{agreement_id}"), 303)


@bp.post("/mesa/acuerdos/<int:agreement_id>/cumplido")
@needs("plan_report")
def done(agreement_id: int) -> Any:
    ctx = current_ctx()
    open_agreement(ctx, current_user, agreement_id)  # MesaNotFound 404, NotResponsible 403: before the form
    form = DoneForm()
    if not form.validate() or form.agreement.data != str(agreement_id):
        abort(400)
    try:
        agreement = complete_agreement(ctx, current_user, agreement_id)  # MesaNotFound 404, NotResponsible 403
    except AgreementAlreadyDone:
        ctx.session.rollback()
        flash(_("Este acuerdo ya había sido marcado como cumplido."), "info")
        return redirect(url_for("mesa.agreement", agreement_id=agreement_id), 303)
    ctx.session.commit()
    flash(_("Acuerdo marcado como cumplido."), "success")
    return redirect(url_for("mesa.session", meeting_id=agreement.meeting_id, _anchor=f"acuerdo-{agreement_id}"), 303)
