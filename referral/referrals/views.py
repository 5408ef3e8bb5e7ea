"""Referral pages: find a node and refer in one step, answer a referral, consents, emergency access,
my node's referrals, and the auditors' list of exceptions. Thin: the services decide."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from sqlalchemy import select

from ..audit.models import AuditEvent
from ..audit.reads import audit_read
from ..kernel.access import open_case
from ..kernel.errors import AccessDenied, CaseError
from ..context import Context
from ..country import is_child
from ..auth.fresh import recently_verified
from ..web.access import needs
from ..web.confirm import confirmed
from ..web.context import current_ctx, language
from ..web.unit import attempt
from ..workflow import Text
from ..workflow.network import check_send, permitted
from ..kernel.records import facts_for
from ..network.directory import ORG_TYPES
from ..network.models import Node
from ..web.limits import BURST_EVENT
from .consent import record_consent, revoke_consent
from .emergency import end_access, grant, hours_range, may_break_glass
from .finder import NATIONAL, NEIGHBOUR, SAME_REGION, candidates
from .reading import exceptions, my_referrals, referral_detail
from .service import answer_referral, send_referral

from .forms import AnswerForm, ConsentForm, EmergencyForm, ReferForm

bp = Blueprint("referrals", __name__)

DISTANCE = {
    SAME_REGION: Text("Misma región", "Same region"),
    NEIGHBOUR: Text("Región vecina", "Neighbouring region"),
    NATIONAL: Text("Nacional", "National"),
}
OTHER_REGION = Text("Otra región", "Another region")


def _version(raw: Any) -> int:
    text = str(raw or "")
    if not re.fullmatch(r"[0-9]{1,9}", text):
        abort(400)
    return int(text)


# -- refer: find the node and send, in one step ---------------------------------------------------


@bp.route("/casos/<reference>/derivar/<kind>", methods=["GET", "POST"])
@needs("case_access")
def refer(reference: str, kind: str) -> Any:
    ctx, lang = current_ctx(), language()
    d = ctx.definition
    case, actor = open_case(ctx, current_user, reference)
    referrals = d.network.referrals
    if referrals is None or kind not in referrals.kinds:
        abort(404)
    spec = referrals.kinds[kind]
    services = d.network.kind_services(spec)
    service = request.values.get("servicio") or (services[0] if services else None)
    if not spec.transfers and service not in services:
        abort(400)
    check_send(d, kind, service if not spec.transfers else None, facts_for(ctx, case), current_user.role,
               actor.relations)  # refusals become the error page (403 / 409)
    form = ReferForm()
    rules = d.network.consent
    form.override_reason.choices = [("", _("— Hay consentimiento registrado —"))] + (
        [(k, v.get(lang)) for k, v in rules.override_reasons.items()] if rules else [])
    status = 200
    if request.method == "POST":
        if form.validate():
            raw = str(form.to_node.data or "")
            with attempt(form) as outcome:
                referral = send_referral(
                    ctx, current_user, reference, kind=kind, service=None if spec.transfers else service,
                    to_node_id=int(raw) if raw.isdigit() else -1, expected_version=_version(form.case_version.data),
                    due_on=form.due_on.data, note=form.note.data or "",
                    override_reason=form.override_reason.data or None, override_note=form.override_note.data or "")
            if outcome.ok:
                flash(_("Derivación enviada a %(node)s. Ese nodo ve ahora lo que su servicio necesita del caso.",
                        node=referral.to_node.short_name), "success")
                return redirect(url_for("cases.show", reference=reference), 303)
        flash(_("No se envió la derivación: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
        case, actor = open_case(ctx, current_user, reference)
    else:
        form.case_version.data = str(case.version)
        form.to_node.data = request.args.get("nodo", "") if request.args.get("nodo", "").isdigit() else ""
        if form.due_on.data is None and request.args.get("fecha"):  # from a plan action: its committed date
            try:
                form.due_on.data = dt.date.fromisoformat(request.args["fecha"])
            except ValueError:
                abort(400)
    exclude = {current_user.node_id}
    rows = [
        {"id": c.node.id, "name": c.node.short_name, "full_name": c.node.name, "org_type": c.node.org_type,
         "distance": DISTANCE.get(c.distance, OTHER_REGION).get(lang), "capacity_known": c.capacity_known,
         "free": c.node.capacity_free, "total": c.node.capacity_total, "has_room": c.has_room,
         "contact": c.node.contact_email or c.node.contact_phone or ""}
        for c in candidates(ctx, None if spec.transfers else service, case.region_code, exclude=exclude)
    ]
    service_choices = [(key, d.network.services[key].label.get(lang)) for key in services]
    return render_template(
        "referrals/refer.html", reference=case.reference, kind=kind, kind_label=spec.label.get(lang),
        kind_help=spec.help.get(lang) if spec.help else "", transfer=bool(spec.transfers), service=service,
        service_choices=service_choices, rows=rows, form=form, chosen=str(form.to_node.data or ""),
        may_override=bool(rules), child=is_child(d, case.flags),
    ), status


# -- one referral: see it, answer it ----------------------------------------------------------------


def _answer_form(key: str | None) -> AnswerForm:
    form = AnswerForm()
    referrals = current_ctx().definition.network.referrals
    transition = referrals.transitions.get(key or "") if referrals else None
    lang = language()
    if transition is not None and transition.reasons and referrals is not None:
        form.reason.choices = [("", _("Elija un motivo"))] + [
            (k, v.get(lang)) for k, v in referrals.reasons[transition.reasons].items()]
    else:
        form.reason.choices = [("", "")]
    return form


@bp.get("/casos/<reference>/derivaciones/<uuid:referral_id>")
@needs("case_access")
def show(reference: str, referral_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    case, row, version = referral_detail(ctx, current_user, reference, referral_id, language())
    audit_read(ctx, current_user, case.id, "referral", subject=str(referral_id))
    return render_template("referrals/referral.html", row=row, reference=case.reference, version=version,
                           form=FlaskForm())


@bp.route("/casos/<reference>/derivaciones/<uuid:referral_id>/<key>", methods=["GET", "POST"])
@needs("case_access")
def answer(reference: str, referral_id: uuid.UUID, key: str) -> Any:
    ctx = current_ctx()
    case, row, version = referral_detail(ctx, current_user, reference, referral_id, language())
    action = next((a for a in row.actions if a.key == key), None)
    if action is None:
        referrals = ctx.definition.network.referrals
        if referrals is None or key not in referrals.transitions:
            abort(404)
        flash(_("Esa acción ya no es posible en esta derivación (su estado cambió o su nodo no puede hacerla)."),
              "error")
        if request.method == "POST":
            abort(409)
        return redirect(url_for("referrals.show", reference=reference, referral_id=referral_id), 303)
    form = _answer_form(key)
    status = 200
    missing = request.method == "POST" and bool(action.confirm) and not confirmed()
    if missing:  # a destructive answer: nothing is done until the user confirms it
        form.validate()
        flash(_("No se registró: esta acción pide confirmación. Marque «Confirmo» para hacerla."), "error")
        return render_template("referrals/answer.html", row=row, reference=case.reference, action=action, form=form,
                               confirm_missing=True), 400
    if request.method == "POST":
        if form.validate():
            with attempt(form, done=_("Derivación actualizada: %(action)s.", action=action.label)) as outcome:
                answer_referral(ctx, current_user, reference, referral_id, key,
                                expected_version=_version(form.case_version.data), reason=form.reason.data or None,
                                note=form.note.data or "")
            if outcome.ok:
                try:
                    open_case(ctx, current_user, reference)
                except AccessDenied:  # the answer ended this node's access: back to its referrals
                    return redirect(url_for("referrals.mine"), 303)
                return redirect(url_for("cases.show", reference=reference), 303)
        flash(_("No se registró: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
    else:
        form.case_version.data = str(version)
    return render_template("referrals/answer.html", row=row, reference=case.reference, action=action, form=form,
                           confirm_missing=False), status


# -- consent ---------------------------------------------------------------------------------------


@bp.route("/casos/<reference>/consentimientos/nuevo", methods=["GET", "POST"])
@needs("case_access")
def new_consent(reference: str) -> Any:
    from sqlalchemy import select

    from ..network.models import Node

    ctx, lang = current_ctx(), language()
    case, actor = open_case(ctx, current_user, reference)
    rules = ctx.definition.network.consent
    if rules is None:
        abort(404)
    if not permitted(rules.by, current_user.role, actor.relations):
        abort(403)
    form = ConsentForm()
    child = bool(rules.child_flag and (case.flags or {}).get(rules.child_flag))
    form.given_by.choices = [("", _("Elija"))] + [(k, v.get(lang)) for k, v in rules.given_by.items()
                                                  if not child or k in rules.child_given_by]
    form.scope.choices = [(k, v.get(lang)) for k, v in rules.scopes.items()]
    form.node.choices = [("", _("— (solo si es una institución determinada) —"))] + [
        (str(n.id), n.short_name) for n in ctx.session.scalars(select(Node).where(Node.active).order_by(Node.short_name))]
    form.org_type.choices = [("", _("— (solo si es un tipo de institución) —"))] + [
        (key, label.get(lang)) for key, label in ORG_TYPES.items()]
    form.evidence.choices = [("", _("Elija"))] + [(k, v.get(lang)) for k, v in rules.evidence.items()]
    status = 200
    if request.method == "POST":
        if form.validate():
            node_raw = str(form.node.data or "")
            with attempt(form, done=_("Consentimiento registrado.")) as outcome:
                record_consent(ctx, current_user, reference, given_by=form.given_by.data or "",
                               scope=form.scope.data or "", given_on=form.given_on.data,
                               evidence=form.evidence.data or "", expected_version=_version(form.case_version.data),
                               valid_until=form.valid_until.data, node_id=int(node_raw) if node_raw.isdigit() else None,
                               org_type=form.org_type.data or None, note=form.note.data or "")
            if outcome.ok:
                return redirect(url_for("cases.show", reference=reference), 303)
        flash(_("No se registró el consentimiento: revise los campos marcados. Lo escrito se conserva."), "error")
        status = 400
    else:
        form.case_version.data = str(case.version)
    return render_template("referrals/consent.html", form=form, reference=case.reference, child=child), status


@bp.post("/casos/<reference>/consentimientos/<uuid:consent_id>/revocar")
@needs("case_access")
def revoke(reference: str, consent_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    form = FlaskForm()
    if not form.validate():
        abort(400)
    _case, actor = open_case(ctx, current_user, reference)  # never `_`: that name is gettext here
    rules = ctx.definition.network.consent
    if rules is None or not permitted(rules.by, current_user.role, actor.relations):
        abort(403)
    with attempt(done=_("Consentimiento revocado.")) as outcome:
        _consent, ended = revoke_consent(ctx, current_user, reference, consent_id,
                                         expected_version=_version(request.form.get("case_version")))
    if outcome.ok and ended:
        flash(_("Se revocaron %(count)d derivaciones que solo ese consentimiento cubría.", count=len(ended)), "info")
    return redirect(url_for("cases.show", reference=reference), 303)


# -- emergency access (break the glass) ------------------------------------------------------------


@bp.route("/acceso-emergencia", methods=["GET", "POST"])
@needs("case_access")
@recently_verified
def emergency() -> Any:
    ctx, lang = current_ctx(), language()
    if not may_break_glass(ctx, current_user):
        abort(403)
    spec = ctx.definition.network.emergency_access
    assert spec is not None
    form = EmergencyForm()
    form.reason.choices = [("", _("Elija un motivo"))] + [(k, v.get(lang)) for k, v in spec.reasons.items()]
    status = 200
    if request.method == "POST":
        if form.validate():
            reference = (form.reference.data or "").strip().upper()
            try:
                with attempt(form) as outcome:
                    access = grant(ctx, current_user, reference, reason=form.reason.data or "",
                                   note=form.note.data or "", hours=form.hours.data)
            except CaseError as error:  # no such case, or nobody holds its key any more (rolled back)
                form.reference.errors = [error.message.get(lang)]
            else:
                if outcome.ok:
                    flash(_("Acceso de emergencia otorgado hasta %(until)s. Queda registrado y lo verán los auditores.",
                            until=access.expires_at.astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M")), "warning")
                    return redirect(url_for("cases.show", reference=reference), 303)
        flash(_("No se otorgó el acceso: revise los campos marcados."), "error")
        status = 400
    elif form.hours.data is None:
        form.hours.data = spec.duration.value
    return render_template("referrals/emergency.html", form=form, max_hours=max(hours_range(ctx)),
                           default_hours=spec.duration.value), status


@bp.post("/casos/<reference>/acceso-emergencia/terminar")
@needs("case_access")
def end_emergency(reference: str) -> Any:
    ctx = current_ctx()
    if not FlaskForm().validate():
        abort(400)
    end_access(ctx, current_user, reference)
    ctx.session.commit()
    flash(_("Acceso de emergencia terminado."), "success")
    return redirect(url_for("cases.my_cases"), 303)


# -- my node's referrals -----------------------------------------------------------------------------


@bp.get("/derivaciones")
@needs("case_access")
def mine() -> Any:
    return render_template("referrals/mine.html", page=my_referrals(current_ctx(), current_user, language()))


# -- auditors ------------------------------------------------------------------------------------------


@bp.get("/auditoria/excepciones")
@needs("audit")
def audit_exceptions() -> Any:
    ctx = current_ctx()
    return render_template("referrals/exceptions.html", rows=exceptions(ctx, language(), current_user.node_id),
                           bursts=_query_bursts(ctx, language()))


def _query_bursts(ctx: Context, lang: str, limit: int = 500) -> list[dict[str, str]]:
    """Auditors who went past the query limit (referral/web/limits.py): when, role, institution type,
    page and limit, as the audit log holds them (codes only: never what was asked)."""
    pages = {"stats.statistics": _("Estadísticas"), "stats.board": _("Tablero del proceso"),
             "stats.cases": _("Líneas de tiempo"), "stats.case_timeline": _("Línea de tiempo")}
    found = ctx.session.execute(select(AuditEvent, Node.org_type).outerjoin(Node, Node.id == AuditEvent.actor_node_id)
                                .where(AuditEvent.action == BURST_EVENT).order_by(AuditEvent.seq.desc()).limit(limit))
    rows = []
    for event, org_type in found:
        role = ctx.definition.roles.get(event.actor_role or "")
        endpoint = str(event.details.get("endpoint", ""))
        kind = ORG_TYPES.get(org_type or "")
        rows.append({"when": event.at.astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M"),
                     "role": role.label.get(lang) if role else (event.actor_role or "—"),
                     "node_type": kind.get(lang) if kind else (org_type or "—"),
                     "page": pages.get(endpoint, endpoint), "limit": str(event.details.get("limit", ""))})
    return rows


