"""The Mesa Intersectorial's pages: the Mesas, one Mesa's sessions, recording a session, one session, marking an
agreement done. Thin: referral/mesa/service.py decides and reading.py shows."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..web.access import needs, needs_any
from ..web.context import current_ctx, language
from ..web.unit import attempt
from .reading import meeting_of_agreement, mesa_page, mesas_overview, own_open_agreements, session_view
from .service import (
    AgreementAlreadyDone, AgreementInput, MeetingAlreadyRecorded, MeetingInput, MinutesAlreadyRecorded, add_minutes,
    complete_agreement, may_manage, mesa_of, node_choices, open_agreement, record_meeting,
)

from .forms import DoneForm, MinutesForm, SessionForm

bp = Blueprint("mesa", __name__)
READERS = ("plan_manage", "plan_report", "audit")


def _node_ids(raw: list[str] | None) -> tuple[int, ...]:
    return tuple(int(v) for v in raw or () if v.isascii() and v.isdigit() and len(v) < 10)


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
            with attempt(form, done=_("Sesión registrada; cada acuerdo tiene su plazo."),
                         already={MeetingAlreadyRecorded: _("Esta sesión ya había sido registrada.")}) as outcome:
                meeting = record_meeting(ctx, current_user, target, _values(form), form.token.data or "")
            if outcome.already:  # a second click: the first one recorded it
                return redirect(url_for("mesa.mesa", key=target.key), 303)
            if outcome.ok:
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
    with attempt(done=_("Acta registrada."), invalid=_("El acta es demasiado larga; no se registró."),
                 already={MinutesAlreadyRecorded: _("Esta sesión ya tenía acta.")}) as outcome:
        add_minutes(ctx, current_user, meeting_id, form.minutes.data or "")
    if outcome.errors:
        return render_template("mesa/session.html", view=view, done_form=DoneForm(), minutes_form=form), 400
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
    with attempt(done=_("Acuerdo marcado como cumplido."),
                 already={AgreementAlreadyDone: _("Este acuerdo ya había sido marcado como cumplido.")}) as outcome:
        agreement = complete_agreement(ctx, current_user, agreement_id)  # MesaNotFound 404, NotResponsible 403
    if outcome.already:
        return redirect(url_for("mesa.agreement", agreement_id=agreement_id), 303)
    return redirect(url_for("mesa.session", meeting_id=agreement.meeting_id, _anchor=f"acuerdo-{agreement_id}"), 303)
