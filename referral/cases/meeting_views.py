"""«Mesa de caso»: convene a coordination meeting, record its minutes and agreements, mark an agreement
done. Thin: referral/cases/meetings.py decides."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..web.access import needs
from ..web.confirm import confirmed
from ..web.context import current_ctx, language
from ..web.unit import attempt
from .meetings import (
    AgreementAlreadyDone, AgreementInput, MeetingAlreadyConvened, MeetingClosed, MeetingInput, MinutesAlreadyRecorded,
    MinutesInput, cancel_meeting, complete_agreement, convene, minutes_form_context, modality_choices, node_choices, open_agreement,
    open_for_convening, open_meeting,
    record_minutes,
)

from .forms import CancelForm, DoneForm, MeetingForm, MinutesForm

bp = Blueprint("meetings", __name__)


def _node_ids(raw: list[str] | None) -> tuple[int, ...]:
    return tuple(int(v) for v in raw or () if v.isascii() and v.isdigit() and len(v) < 10)


def _node_id(raw: str | None) -> int | None:
    ids = _node_ids([raw or ""])
    return ids[0] if ids else None


def _back(reference: str) -> Any:
    return redirect(url_for("cases.show", reference=reference, _anchor="mesas"), 303)


@bp.route("/casos/<reference>/mesas/nueva", methods=["GET", "POST"])
@needs("case_access")
def new(reference: str) -> Any:
    ctx, lang = current_ctx(), language()
    case = open_for_convening(ctx, current_user, reference)
    form = MeetingForm()
    form.modality.choices = [("", _("Elija"))] + modality_choices(ctx, lang)
    form.invited.choices = [(str(n), name) for n, name in node_choices(ctx, case) if n != current_user.node_id]
    status = 200
    if form.is_submitted():
        if form.validate():
            starts = dt.datetime.combine(form.date.data, form.time.data) if form.date.data and form.time.data else None
            values = MeetingInput(starts_at=starts, modality=form.modality.data or "", place=form.place.data or "",
                                  purpose=form.purpose.data or "", invited=_node_ids(form.invited.data))
            with attempt(form, done=_("Mesa de caso convocada; los nodos invitados serán notificados."),
                         already={MeetingAlreadyConvened: _("Esta mesa ya había sido convocada.")},
                         rename=lambda key: "date" if key == "starts_at" else key) as outcome:
                convene(ctx, current_user, reference, values, form.token.data or "")
            if outcome.finished:
                return _back(case.reference)
        flash(_("No se convocó la mesa: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
    else:
        form.token.data = secrets.token_urlsafe(24)
    return render_template("cases/meeting_new.html", form=form, reference=case.reference), status


@bp.route("/casos/<reference>/mesas/<uuid:meeting_id>/acta", methods=["GET", "POST"])
@needs("case_access")
def minutes(reference: str, meeting_id: uuid.UUID) -> Any:
    ctx, lang = current_ctx(), language()
    case, meeting, present, responsible = minutes_form_context(ctx, current_user, reference, meeting_id, lang)
    if not meeting.may_record_minutes:
        flash(_("Esta mesa fue cancelada.") if meeting.cancelled else
              _("El acta de esta mesa ya había sido registrada."), "info")
        return _back(case.reference)
    form = MinutesForm()
    form.attendees.choices = [(str(n), name) for n, name in present]
    for row in form.agreements.entries:
        row.form.responsible.choices = [("", _("Elija"))] + [(str(n), name) for n, name in responsible]
    status = 200
    if form.is_submitted():
        if form.validate():
            values = MinutesInput(
                attendees=_node_ids(form.attendees.data), narrative=form.narrative.data or "",
                agreements=tuple(AgreementInput(text=row.form.text.data or "", responsible=_node_id(row.form.responsible.data),
                                                due_on=row.form.due_on.data) for row in form.agreements.entries))
            gone = _("El acta de esta mesa ya había sido registrada o la mesa fue cancelada.")
            with attempt(form, done=_("Acta registrada, cifrada; cada acuerdo tiene su plazo."),
                         already={MinutesAlreadyRecorded: gone, MeetingClosed: gone}) as outcome:
                record_minutes(ctx, current_user, reference, meeting_id, values)
            if outcome.finished:
                return _back(case.reference)
        flash(_("No se registró el acta: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
    return render_template("cases/meeting_minutes.html", form=form, meeting=meeting, reference=case.reference), status


@bp.post("/casos/<reference>/mesas/<uuid:meeting_id>/cancelar")
@needs("case_access")
def cancel(reference: str, meeting_id: uuid.UUID) -> Any:
    """«Cancelar la mesa»: the convener calls off a meeting without minutes; a reason and «Confirmo» are needed."""
    ctx = current_ctx()
    open_meeting(ctx, current_user, reference, meeting_id)  # AccessDenied / CaseNotFound before anything
    form = CancelForm()
    if not form.validate():
        abort(400)
    if not confirmed():
        flash(_("No se canceló la mesa: marque «Confirmo» para cancelarla."), "error")
        return _back(reference)
    with attempt(done=_("Mesa cancelada; los nodos invitados ya no recibirán recordatorios."),
                 invalid=_("No se canceló la mesa: elija el motivo."),
                 already={MeetingClosed: _("Esta mesa ya tiene acta o ya fue cancelada.")}):
        cancel_meeting(ctx, current_user, reference, meeting_id, form.motivo.data or "")
    return _back(reference)


@bp.post("/casos/<reference>/acuerdos/<uuid:agreement_id>/cumplido")
@needs("case_access")
def done(reference: str, agreement_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    open_agreement(ctx, current_user, reference, agreement_id)  # AccessDenied / CaseNotFound before anything
    form = DoneForm()
    if not form.validate() or form.agreement.data != str(agreement_id):
        abort(400)
    with attempt(done=_("Acuerdo marcado como cumplido."),
                 invalid=_("La nota es demasiado larga; el acuerdo no se marcó."),
                 already={AgreementAlreadyDone: _("Este acuerdo ya había sido marcado como cumplido.")}):
        complete_agreement(ctx, current_user, reference, agreement_id, form.note.data or "")
    return _back(reference)
