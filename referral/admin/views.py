"""Erasing a case (crypto-shredding) and the list of erased cases, for administrators."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..cases.erasure import ERASED_TABLES, REASONS, AlreadyErased, erase_case
from ..kernel.errors import CaseNotFound
from ..kernel.models import CaseTombstone
from ..cases.reading import Reader
from ..db import scrub_freed_space
from ..extensions import database
from ..network.models import Node
from ..auth.fresh import recently_verified
from ..web.access import needs
from ..web.context import current_ctx, language
from ..web.unit import attempt

from .forms import EraseForm

bp = Blueprint("admin", __name__, url_prefix="/administracion")


def _form() -> EraseForm:
    form = EraseForm()
    lang = language()
    form.reference.label.text = _("Referencia del caso")
    form.reason.label.text = _("Motivo")
    form.confirmation.label.text = _("Escriba de nuevo la referencia para confirmar")
    form.reason.choices = [("", _("Elija un motivo"))] + [(k, t.get(lang)) for k, t in REASONS.items()]
    return form


@bp.route("/eliminar-caso", methods=["GET", "POST"])
@needs("erase_cases")
@recently_verified
def erase() -> object:
    form = _form()
    if form.validate_on_submit():
        ctx = current_ctx()
        try:
            with attempt(form) as outcome:
                tombstone = erase_case(ctx, current_user, form.reference.data or "", form.reason.data or "",
                                       form.confirmation.data or "")
        except (CaseNotFound, AlreadyErased) as error:  # rolled back
            form.reference.errors = [error.message.get(language())]
        else:
            if not outcome.ok:
                return render_template("admin/erase.html", form=form), 400
            flash(_("Caso %(reference)s eliminado: sus claves fueron destruidas y su contenido ya no puede "
                    "recuperarse.", reference=tombstone.reference), "success")
            if not scrub_freed_space(database.engine(current_app), ERASED_TABLES, wait_ms=1000):
                flash(_("Otro proceso (¿un respaldo?) está leyendo la base de datos: el archivo conserva aún "
                        "páginas antiguas. Pida al equipo técnico ejecutar «flask cases scrub» cuando termine."),
                      "error")
            return redirect(url_for("admin.erased"), 303)
    return render_template("admin/erase.html", form=form), 400 if form.is_submitted() else 200


@bp.get("/casos-eliminados")
@needs("erase_cases")
def erased() -> object:
    ctx = current_ctx()
    lang = language()
    reader = Reader(ctx, lang)
    roles = ctx.definition.roles
    rows = [
        {"reference": t.reference, "reason": REASONS[t.reason].get(lang) if t.reason in REASONS else t.reason,
         "erased_at": reader.local(t.erased_at),
         "opened_at": reader.local(t.opened_at)[3:10],  # month and year only: no exact date of the case
         "role": roles[t.actor_role].label.get(lang) if t.actor_role in roles else t.actor_role, "node": node}
        for t, node in ctx.session.execute(
            select(CaseTombstone, Node.short_name).join(Node, Node.id == CaseTombstone.actor_node_id)
            .order_by(CaseTombstone.erased_at.desc()).limit(500))
    ]
    return render_template("admin/erased.html", rows=rows)
