"""«Nueva atención»: write a case note. Thin: referral/cases/notes.py decides."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..web.access import needs
from ..web.context import current_ctx, language
from ..web.unit import attempt
from .notes import NoteAlreadyRecorded, NoteInput, form_choices, open_for_writing, record_note

from .forms import NoteForm

bp = Blueprint("notes", __name__)


@bp.route("/casos/<reference>/atenciones/nueva", methods=["GET", "POST"])
@needs("case_access")
def new(reference: str) -> Any:
    ctx, lang = current_ctx(), language()
    case, _relations = open_for_writing(ctx, current_user, reference)
    form = NoteForm()
    types, sharing, ticked = form_choices(ctx, lang)
    form.type.choices = [("", _("Elija"))] + types
    form.shared_with.choices = sharing
    status = 200
    if form.is_submitted():
        if form.validate():
            values = NoteInput(type=form.type.data or "", date=form.date.data,
                               participants=form.participants.data or "", narrative=form.narrative.data or "",
                               next_steps=form.next_steps.data or "", shared_with=tuple(form.shared_with.data or ()))
            with attempt(form, done=_("Atención registrada, cifrada."),
                         already={NoteAlreadyRecorded: _("Esta atención ya había sido registrada.")}) as outcome:
                record_note(ctx, current_user, reference, values, form.token.data or "")
            if outcome.finished:
                return redirect(url_for("cases.show", reference=case.reference), 303)
        flash(_("No se registró la atención: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
    else:
        form.token.data = secrets.token_urlsafe(24)
        form.date.data = ctx.now().astimezone(ctx.timezone).date()
        form.shared_with.data = list(ticked)
    return render_template("cases/note_new.html", form=form, reference=case.reference), status
