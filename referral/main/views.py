"""Home (each role lands on its worklist), the protocol in force, language choice."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from ..kernel.access import may_open_cases
from ..cases.erasure import may_erase
from ..cases.inbox import inboxes_for
from ..plan.service import may_report_or_manage as may_report_or_manage_plan
from ..web.access import public, signed_in
from ..web.context import LANGUAGES, current_ctx, language
from ..workflow.diagram import machine_svg
from .protocol import protocol_view

bp = Blueprint("main", __name__)


@bp.get("/")
@signed_in
def home() -> object:
    ctx = current_ctx()
    inboxes = inboxes_for(ctx, current_user)
    if inboxes:
        return redirect(url_for("cases.inbox", key=inboxes[0].key))
    if may_open_cases(ctx, current_user):
        return redirect(url_for("cases.my_cases"))
    if may_erase(ctx, current_user):
        return redirect(url_for("admin.erased"))
    if may_report_or_manage_plan(ctx, current_user):
        return redirect(url_for("plan.index"))
    return redirect(url_for("main.protocol"))


@bp.get("/protocolo")
@signed_in
def protocol() -> object:
    definition, lang = current_ctx().definition, language()
    # One state diagram per machine (the case, then each track), in the order of view.machines; the SVG is
    # written from escaped text only (referral/workflow/diagram.py), as the charts are.
    diagrams = [machine_svg(definition, machine, lang, f"diagram-{n}") for n, machine in enumerate(definition.machines())]
    return render_template("main/protocol.html", view=protocol_view(definition, lang), diagrams=diagrams)


@bp.post("/idioma")
@public
def set_language() -> object:
    chosen = request.form.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    target = request.form.get("next") or ""
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("main.home"))
