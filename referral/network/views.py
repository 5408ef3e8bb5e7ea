"""The node directory pages: administrators keep nodes and their members, import and export the CSV;
a node's manager keeps their own node's services, places and contacts. Thin: load, parse, call one
service (`editing.py`, `csvio.py`), commit once, redirect (303)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from ..audit.service import record
from ..auth.fresh import recently_verified
from ..web.access import needs, node_manager
from ..web.context import current_ctx, language
from ..workflow import Text
from .csvio import export_text, import_csv, record_import
from . import grants
from .editing import (
    MANAGE_NETWORK, InvalidValues, MemberChange, MemberNotFound, NodeNotFound, NodeValues, NotAllowed, add_member,
    create_node, find_node, members, update_member, update_node, update_own_node,
)
from .reading import (
    directory_page, grant_rows, level_choices, member_rows, node_choices, node_row, notice_rows, org_type_choices,
    parse_filters, region_choices, role_choices, service_choices,
)

from .forms import DecisionForm, ImportForm, MemberEditForm, MemberForm, NodeForm, OwnNodeForm

bp = Blueprint("network", __name__)


@bp.errorhandler(NotAllowed)
def _not_allowed(error: NotAllowed) -> Any:
    # The access rule refuses first; the services refusing too is defence in depth.
    return render_template("error.html", status=403, title=_("Sin acceso"), message=error.message.get(language())), 403


def _label(form: FlaskForm, **labels: str) -> None:
    for key, text in labels.items():
        getattr(form, key).label.text = text


def _place_fields(form: NodeForm | OwnNodeForm) -> None:
    ctx, lang = current_ctx(), language()
    form.services.choices = service_choices(ctx.definition, lang)
    _label(form, services=_("Servicios que ofrece"), capacity_total=_("Cupos totales"),
           capacity_free=_("Cupos libres"), contact_email=_("Correo institucional de contacto"),
           contact_phone=_("Teléfono de contacto"))
    form.capacity_total.description = _("Déjelos vacíos si el nodo no cuenta cupos (camas de una casa de acogida, "
                                        "por ejemplo).")
    form.contact_email.description = _("Una casilla de la institución, nunca la de una persona.")


def _shown(data: dict[str, Any]) -> dict[str, Any] | None:
    """What a form shows before it is sent; a sent form is read from what was sent only (a field
    left out is empty, never the stored value)."""
    return None if request.method == "POST" else data


def _node_form(**data: Any) -> NodeForm:
    lang = language()
    form = NodeForm(data=_shown(data))
    placeholder = [("", _("— Seleccione —"))]
    form.org_type.choices = placeholder + org_type_choices(lang)
    form.level.choices = placeholder + level_choices(lang)
    form.regions.choices = region_choices(current_ctx().session)
    _place_fields(form)
    _label(form, code=_("Código"), short_name=_("Nombre corto"), name=_("Nombre completo"),
           org_type=_("Tipo de organización"), level=_("Nivel"), regions=_("Regiones atendidas"),
           active=_("Activo (recibe casos y derivaciones)"))
    form.code.description = _("Identifica el nodo en los archivos CSV (por ejemplo INSTITUCION-XX-RR); no cambia después.")
    form.regions.description = _("Un nodo nacional atiende todas las regiones: no marque ninguna.")
    form.active.description = _("Un nodo no se elimina nunca (los casos lo nombran): se desactiva.")
    return form


def _member_fields(form: MemberForm | MemberEditForm) -> None:
    form.role.choices = [("", _("— Seleccione —"))] + role_choices(current_ctx().definition, language())
    _label(form, role=_("Rol"), manages_node=_("Gestiona los datos del nodo (servicios, cupos, contacto)"),
           active=_("Cuenta activa (puede ingresar)"))


def _show_errors(form: FlaskForm, errors: dict[str, list[Text]]) -> None:
    lang = language()
    for key, messages in errors.items():
        field = getattr(form, key, None)
        if field is None:
            for message in messages:
                flash(message.get(lang), "error")
        else:
            field.errors = [*field.errors, *(m.get(lang) for m in messages)]


def _node_values(form: NodeForm, code: str | None = None) -> NodeValues:
    return NodeValues(
        code=code if code is not None else form.code.data or "", short_name=form.short_name.data or "",
        name=form.name.data or "", org_type=form.org_type.data or "", level=form.level.data or "",
        regions=tuple(form.regions.data or ()), services=tuple(form.services.data or ()),
        capacity_total=form.capacity_total.data, capacity_free=form.capacity_free.data,
        contact_email=form.contact_email.data or None, contact_phone=form.contact_phone.data or None,
        active=bool(form.active.data),
    )


def _node(node_id: int) -> Any:
    try:
        return find_node(current_ctx().session, node_id)
    except NodeNotFound:
        abort(404)


def _not_saved(form: FlaskForm) -> None:
    if form.is_submitted():
        flash(_("No se guardó: revise los campos marcados. Lo escrito se conserva."), "error")


# -- the list, a node ------------------------------------------------------------------------------


@bp.get("/administracion/nodos")
@needs(MANAGE_NETWORK)
def nodes() -> Any:
    ctx = current_ctx()
    filters = parse_filters(ctx.session, request.args.get("region"), request.args.get("tipo"),
                            request.args.get("activo"))
    if filters is None:
        abort(400)
    page = directory_page(ctx.session, ctx.definition, language(), ctx.timezone, filters)
    return render_template("network/nodes.html", page=page)


@bp.route("/administracion/nodos/nuevo", methods=["GET", "POST"])
@needs(MANAGE_NETWORK)
def new_node() -> Any:
    ctx = current_ctx()
    form = _node_form()
    if form.validate_on_submit():
        try:
            node = create_node(ctx, current_user, _node_values(form))
            ctx.session.commit()
        except InvalidValues as invalid:
            ctx.session.rollback()
            _show_errors(form, invalid.errors)
        except IntegrityError:  # the same form sent twice at once: the other request created it
            ctx.session.rollback()
            form.code.errors = [*form.code.errors, _("Ya existe un nodo con el código %(code)s.", code=form.code.data)]
        else:
            flash(_("Nodo %(code)s creado.", code=node.code), "success")
            return redirect(url_for("network.edit_node", node_id=node.id), 303)
    _not_saved(form)
    return render_template("network/node_form.html", form=form, node=None), 400 if form.is_submitted() else 200


@bp.route("/administracion/nodos/<int:node_id>", methods=["GET", "POST"])
@needs(MANAGE_NETWORK)
def edit_node(node_id: int) -> Any:
    ctx = current_ctx()
    node = _node(node_id)
    current = NodeValues.of(node)
    form = _node_form(**{key: list(value) if isinstance(value, tuple) else value
                         for key, value in vars(current).items() if key != "home_region"})
    form.code.render_kw = {"readonly": True}
    if form.validate_on_submit():
        try:
            changed = update_node(ctx, current_user, node.id, _node_values(form, code=node.code))
            ctx.session.commit()
        except InvalidValues as invalid:
            ctx.session.rollback()
            _show_errors(form, invalid.errors)
        else:
            flash(_("Cambios guardados en %(code)s.", code=node.code) if changed else
                  _("%(code)s no tenía cambios.", code=node.code), "success")
            return redirect(url_for("network.nodes"), 303)
    form.code.data = node.code
    _not_saved(form)
    view = node_row(node, ctx.definition, language(), ctx.timezone)
    return render_template("network/node_form.html", form=form, node=view), 400 if form.is_submitted() else 200


# -- members ---------------------------------------------------------------------------------------


def enrolment_link(token: str) -> str:
    """The one-time link a new account's person opens to set her own password (the auth blueprint's page)."""
    return url_for("auth.enrol", token=token, _external=True)


def _shown_once(template: str, status: int, **values: Any) -> Response:
    # An enrolment link is in this response only: never in a flash (the session cookie is signed, not
    # encrypted), never in a URL of ours, never stored in clear, never cached.
    return Response(render_template(template, **values), status=status, headers={"Cache-Control": "no-store"})


def _posting() -> bool:
    return request.method == "POST"


def _member_page(node: Any, form: MemberForm, status: int) -> Any:
    ctx = current_ctx()
    view = node_row(node, ctx.definition, language(), ctx.timezone)
    rows = member_rows(members(ctx.session, node.id), ctx.definition, language())
    return render_template("network/members.html", node=view, members=rows, form=form), status


@bp.route("/administracion/nodos/<int:node_id>/miembros", methods=["GET", "POST"])
@needs(MANAGE_NETWORK)
@recently_verified(only_if=_posting)  # an account grant: a proof of identity from the last minutes
def node_members(node_id: int) -> Any:
    ctx = current_ctx()
    node = _node(node_id)
    form = MemberForm()
    _member_fields(form)
    _label(form, email=_("Correo"), display_name=_("Nombre y cargo"))
    if form.validate_on_submit():
        try:
            added = add_member(
                ctx, current_user, node.id, email=form.email.data or "", display_name=form.display_name.data or "",
                role=form.role.data or "", manages_node=bool(form.manages_node.data), active=bool(form.active.data))
            ctx.session.commit()
        except InvalidValues as invalid:
            ctx.session.rollback()
            _show_errors(form, invalid.errors)
        except IntegrityError:  # sent twice at once: the other request created the account
            ctx.session.rollback()
            form.email.errors = [*form.email.errors, _("Ya existe una cuenta con ese correo.")]
        else:
            link = enrolment_link(added.enrolment_token) if added.enrolment_token else None
            return _shown_once("network/member_created.html", 201, node=node, email=added.user.email, link=link,
                               pending=added.grant is not None)
    _not_saved(form)
    return _member_page(node, form, 400 if form.is_submitted() else 200)


def _member_changed(member: Any, change: MemberChange) -> None:
    if change.grant is not None:
        flash(_("El cambio de acceso de %(email)s quedó como solicitud: tendrá efecto cuando otra persona "
                "autorizada lo apruebe.", email=member.email), "warning")
    if change.changed:
        flash(_("Cuenta de %(email)s actualizada.", email=member.email), "success")
    elif change.grant is None:
        flash(_("La cuenta de %(email)s no tenía cambios.", email=member.email), "success")


@bp.route("/administracion/nodos/<int:node_id>/miembros/<int:user_id>", methods=["GET", "POST"])
@needs(MANAGE_NETWORK)
@recently_verified(only_if=_posting)  # an account grant: a proof of identity from the last minutes
def edit_member(node_id: int, user_id: int) -> Any:
    ctx = current_ctx()
    node = _node(node_id)
    member = next((u for u in members(ctx.session, node.id) if u.id == user_id), None)
    if member is None:
        abort(404)
    form = MemberEditForm(data=_shown({"role": member.role, "manages_node": member.manages_node,
                                       "active": member.active, "node_id": str(member.node_id),
                                       "email": member.email}))
    _member_fields(form)
    form.node_id.choices = node_choices(ctx.session)
    _label(form, node_id=_("Nodo"), email=_("Correo"))
    if form.validate_on_submit():
        try:
            change = update_member(ctx, current_user, node.id, member.id, role=form.role.data or "",
                                   manages_node=bool(form.manages_node.data), active=bool(form.active.data),
                                   to_node_id=_node_choice(form.node_id.data), email=form.email.data or "")
            ctx.session.commit()
        except InvalidValues as invalid:
            ctx.session.rollback()
            _show_errors(form, invalid.errors)
        except MemberNotFound:
            abort(404)
        else:
            _member_changed(member, change)
            return redirect(url_for("network.node_members", node_id=node.id), 303)
    _not_saved(form)
    view = node_row(node, ctx.definition, language(), ctx.timezone)
    row = member_rows([member], ctx.definition, language())[0]
    return render_template("network/member_form.html", node=view, member=row, form=form), \
        400 if form.is_submitted() else 200


def _node_choice(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        return 0  # no such node: the service says so on the field


# -- access requests: the administrator proposes, national coordination decides ----------------------


@bp.get("/administracion/nodos/solicitudes")
@needs(MANAGE_NETWORK)
def grant_requests() -> Any:
    ctx = current_ctx()
    grants.expire_due(ctx)
    ctx.session.commit()
    rows = grant_rows(ctx.session, grants.recent(ctx.session), ctx.definition, language(), ctx.timezone)
    return render_template("network/grant_requests.html", rows=rows)


def _approvals_page(status: int = 200) -> Any:
    ctx = current_ctx()
    rows = grant_rows(ctx.session, grants.pending(ctx.session, ctx.now()), ctx.definition, language(), ctx.timezone)
    reasons = {state: [(code, text.get(language())) for code, text in codes.items()]
               for state, codes in grants.REASONS.items()}
    return render_template("network/approvals.html", rows=rows, reasons=reasons, me=current_user.id), status


@bp.get("/administracion/solicitudes-acceso")
@needs(grants.APPROVE_ACCESS)
def approvals() -> Any:
    ctx = current_ctx()
    grants.expire_due(ctx)
    ctx.session.commit()
    return _approvals_page()


@bp.post("/administracion/solicitudes-acceso/<uuid:grant_id>")
@needs(grants.APPROVE_ACCESS)
@recently_verified  # approving gives an account access to cases
def decide(grant_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("aprobar", "rechazar"):
        flash(_("Elija aprobar o rechazar, y un motivo."), "error")
        return _approvals_page(400)
    grants.expire_due(ctx)  # kept even if the decision is refused: an expired request says so
    ctx.session.commit()
    try:
        decision = grants.decide(ctx, current_user, grant_id, approve=form.decision.data == "aprobar",
                                 reason=form.reason.data or "")
        ctx.session.commit()
    except grants.GrantError as refused:
        ctx.session.rollback()
        flash(refused.message.get(language()), "error")
        return _approvals_page(refused.status)
    if decision.enrolment_token is not None:
        return _shown_once("network/grant_approved.html", 200, link=enrolment_link(decision.enrolment_token))
    flash(_("Solicitud aprobada.") if decision.grant.state == grants.APPROVED else _("Solicitud rechazada."),
          "success")
    return redirect(url_for("network.approvals"), 303)


# -- CSV -------------------------------------------------------------------------------------------


@bp.get("/administracion/nodos/exportar")
@needs(MANAGE_NETWORK)
@recently_verified
def export() -> Any:
    ctx = current_ctx()
    name = f"nodos-{ctx.now().astimezone(ctx.timezone):%Y%m%d-%H%M}.csv"
    text = export_text(ctx.session)
    record(ctx, "export.directory", role=current_user.role, node_id=current_user.node_id)
    ctx.session.commit()
    return Response(text, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/administracion/nodos/importar", methods=["GET", "POST"])
@needs(MANAGE_NETWORK)
def import_nodes() -> Any:
    ctx = current_ctx()
    form = ImportForm()
    _label(form, file=_("Archivo CSV"))
    if form.validate_on_submit():
        upload = form.file.data
        if isinstance(upload, FileStorage) and upload.filename:
            result = import_csv(ctx.session, ctx.definition, upload.read(), ctx.now())
            record_import(ctx, result, current_user)
            ctx.session.commit()
            lang = language()
            errors = [(error.line, error.reason.get(lang)) for error in result.errors]
            return (render_template("network/import.html", form=ImportForm(formdata=None), result=result,
                                    errors=errors), 200 if result.ok else 422)
        form.file.errors = [*form.file.errors, _("Elija un archivo CSV.")]
    return (render_template("network/import.html", form=form, result=None, errors=[]),
            400 if form.is_submitted() else 200)


# -- a node manager's own node --------------------------------------------------------------------


@bp.route("/mi-nodo", methods=["GET", "POST"])
@node_manager
def my_node() -> Any:
    ctx = current_ctx()
    node = _node(current_user.node_id)
    form = OwnNodeForm(data=_shown({"services": list(node.services or ()), "capacity_total": node.capacity_total,
                                    "capacity_free": node.capacity_free, "contact_email": node.contact_email or "",
                                    "contact_phone": node.contact_phone or ""}))
    _place_fields(form)
    if form.validate_on_submit():
        try:
            changed = update_own_node(
                ctx, current_user, services=form.services.data or (), capacity_total=form.capacity_total.data,
                capacity_free=form.capacity_free.data, contact_email=form.contact_email.data or None,
                contact_phone=form.contact_phone.data or None)
            ctx.session.commit()
        except InvalidValues as invalid:
            ctx.session.rollback()
            _show_errors(form, invalid.errors)
        else:
            flash(_("Datos del nodo guardados.") if changed else _("No había cambios que guardar."), "success")
            return redirect(url_for("network.my_node"), 303)
    _not_saved(form)
    view = node_row(node, ctx.definition, language(), ctx.timezone)
    notices = notice_rows(ctx.session, grants.notices_for(ctx.session, current_user.id), ctx.definition, language(),
                          ctx.timezone)
    grants.mark_notices_read(ctx.session, current_user.id, ctx.now())
    ctx.session.commit()
    return (render_template("network/my_node.html", node=view, form=form, notices=notices),
            400 if form.is_submitted() else 200)
