"""Keeping the node directory: the rules a node's data must follow, and the edits administrators and
node managers make (nodes, their members). Pure services: no Flask; they flush, the caller commits.

The same `check_node` judges a row of an imported CSV and a form typed in the administration pages,
so a node cannot be saved one way that the other would refuse. Nodes and accounts are never deleted
(cases and their timelines refer to them): they are deactivated.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audit.service import record
from ..auth import tokens
from ..auth.models import User
from ..characters import has_control, has_spoofing
from ..context import Context
from ..workflow import Text, WorkflowDefinition
from .directory import LEVELS, NATIONAL, ORG_TYPES, service_code
from . import grants
from .models import AccessGrant, Assignment, Node, NodeRegion, Region

MANAGE_NETWORK = "manage_network"  # the role capability of the directory's administrators
NO_PASSWORD = "!"  # not a hash: no password verifies against it until the person enrols
CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
PHONE = re.compile(r"^\+?[0-9 ().-]+$")
LIMITS = {"code": 40, "short_name": 80, "name": 200, "contact_email": 200, "contact_phone": 40,
          "email": 200, "display_name": 120}
# What a node manager may change of their own node; the rest is the administrators'.
MANAGER_FIELDS = ("services", "capacity_total", "capacity_free", "contact_email", "contact_phone")

REQUIRED = Text("Obligatorio.", "Required.")
HIDDEN_CHARACTER = Text(
    "Contiene un carácter de control, invisible o de dirección del texto (como NUL o U+202E): escríbalo de nuevo.",
    "Contains a control, invisible or text-direction character (such as NUL or U+202E): type it again.")
Add = Callable[[str, Text], None]  # how check_node's helpers report a broken rule


def too_long(limit: int) -> Text:
    return Text(f"Máximo {limit} caracteres.", f"At most {limit} characters.")


class DirectoryError(Exception):
    """Base class; `message` is what a user may read."""

    message = Text("No se pudo completar la acción.", "The action could not be completed.")

    def __init__(self, message: Text | None = None):
        if message is not None:
            self.message = message
        super().__init__(self.message.en or self.message.es)


class NodeNotFound(DirectoryError):
    message = Text("No existe ese nodo.", "There is no such node.")


class NotAllowed(DirectoryError):
    message = Text("Su rol no permite cambiar el directorio de nodos.", "Your role may not change the node directory.")


class MemberNotFound(DirectoryError):
    message = Text("Esa cuenta no pertenece a este nodo.", "That account does not belong to this node.")


class InvalidValues(DirectoryError):
    """Values that break the directory's rules; `errors` maps field keys to messages."""

    message = Text("Revise los campos marcados.", "Check the fields marked.")

    def __init__(self, errors: dict[str, list[Text]]):
        super().__init__()
        self.errors = errors


@dataclass(frozen=True)
class NodeValues:
    """Everything the directory says about one node, as an administrator or a CSV row gives it."""

    code: str
    short_name: str
    name: str
    org_type: str
    level: str
    regions: tuple[str, ...] = ()  # served; empty for a national node
    services: tuple[str, ...] = ()  # catalogue codes
    capacity_total: int | None = None
    capacity_free: int | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    active: bool = True
    home_region: str | None = None

    @classmethod
    def of(cls, node: Node) -> NodeValues:
        return cls(code=node.code, short_name=node.short_name, name=node.name, org_type=node.org_type,
                   level=node.level, regions=served_regions(node), services=tuple(node.services or ()),
                   capacity_total=node.capacity_total, capacity_free=node.capacity_free,
                   contact_email=node.contact_email, contact_phone=node.contact_phone, active=node.active,
                   home_region=node.home_region)


def served_regions(node: Node) -> tuple[str, ...]:
    """The regions a node serves, its home region first (a national node: none listed)."""
    codes = sorted(r.region_code for r in node.regions_served)
    if node.home_region in codes:
        codes.remove(node.home_region)
        codes.insert(0, node.home_region)
    return tuple(codes)


def home_region(existing: Node | None, level: str, regions: Sequence[str]) -> str | None:
    """A node keeps its home region while it still serves it (a national one always keeps it);
    otherwise its home is the first region listed."""
    if existing is not None and existing.home_region and (level == NATIONAL or existing.home_region in regions):
        return existing.home_region
    return regions[0] if regions and level != NATIONAL else None


def catalogue_code(definition: WorkflowDefinition, raw: str) -> str | None:
    """A service as a file or a form writes it (code, alias or label) -> its catalogue code, or None."""
    return definition.network.service_code(raw.strip()) or definition.network.service_code(service_code(raw))


def dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def held_assignments(session: Session, node_id: int | None) -> list[Assignment]:
    if node_id is None:
        return []
    return list(session.scalars(select(Assignment).where(Assignment.node_id == node_id).order_by(Assignment.id)))


def _function_label(definition: WorkflowDefinition, assignment: Assignment) -> Text:
    labelled = definition.assignments.get(assignment.function)
    label = labelled.label if labelled else Text(assignment.function, assignment.function)
    if assignment.region_code:
        return Text(f"«{label.es}» ({assignment.region_code})", f"“{label.get('en')}” ({assignment.region_code})")
    return Text(f"«{label.es}»", f"“{label.get('en')}”")


def check_node(definition: WorkflowDefinition, values: NodeValues, *, region_codes: Collection[str],
               existing: Node | None = None, held: Sequence[Assignment] = ()) -> dict[str, list[Text]]:
    """Every rule a node's data breaks, by field (empty: the values may be saved)."""
    errors: dict[str, list[Text]] = {}

    def add(key: str, message: Text) -> None:
        errors.setdefault(key, []).append(message)

    for key in ("code", "short_name", "name"):
        value = getattr(values, key)
        if not value:
            add(key, REQUIRED)
        elif len(value) > LIMITS[key]:
            add(key, too_long(LIMITS[key]))
    for key in ("code", "short_name", "name", "contact_email", "contact_phone"):
        value = getattr(values, key) or ""
        if has_control(value) or has_spoofing(value):
            add(key, HIDDEN_CHARACTER)
    if values.code and not CODE.match(values.code):
        add("code", Text("Use solo mayúsculas sin tilde, dígitos, «-» y «_» (por ejemplo INSTITUCION-XX-RR).",
                         "Use only capital letters without accents, digits, “-” and “_” (for example INSTITUTION-XX-RR)."))
    if not values.org_type:
        add("org_type", REQUIRED)
    elif values.org_type not in ORG_TYPES:
        add("org_type", Text(f"Tipo de organización desconocido: {values.org_type} (use uno de {', '.join(ORG_TYPES)}).",
                             f"Unknown organisation type: {values.org_type} (use one of {', '.join(ORG_TYPES)})."))
    if not values.level:
        add("level", REQUIRED)
    elif values.level not in LEVELS:
        add("level", Text(f"Nivel desconocido: {values.level} (use national, regional o local).",
                          f"Unknown level: {values.level} (use national, regional or local)."))
    _check_regions(values, region_codes, add)
    _check_services(definition, values, add)
    _check_capacity(definition, values, add)
    _check_contacts(values, add)
    _check_assignments(definition, values, existing, held, add)
    return errors


def _check_regions(values: NodeValues, region_codes: Collection[str], add: Add) -> None:
    unknown = [code for code in values.regions if code not in region_codes]
    if unknown:
        add("regions", Text(f"Región desconocida: {', '.join(unknown)} (use los códigos de la tabla de regiones).",
                            f"Unknown region: {', '.join(unknown)} (use the codes of the regions table)."))
    if values.level == NATIONAL and values.regions:
        add("regions", Text("Un nodo nacional atiende todas las regiones: no indique regiones.",
                            "A national node serves every region: list no regions."))
    elif values.level in LEVELS and values.level != NATIONAL and not values.regions:
        add("regions", Text("Indique al menos una región atendida.", "Give at least one region served."))
    if values.home_region is not None and values.home_region not in region_codes:
        add("regions", Text(f"Región sede desconocida: {values.home_region}.",
                            f"Unknown home region: {values.home_region}."))


def _check_services(definition: WorkflowDefinition, values: NodeValues, add: Add) -> None:
    unknown = [code for code in values.services if code not in definition.network.services]
    if unknown:
        add("services", Text(f"Servicio desconocido: {', '.join(unknown)} (no está en el catálogo).",
                             f"Unknown service: {', '.join(unknown)} (not in the catalogue)."))
    elif values.active and not values.services:  # the network finds nodes by what they offer
        add("services", Text("Un nodo activo ofrece al menos un servicio del catálogo.",
                             "An active node offers at least one service of the catalogue."))


def _check_capacity(definition: WorkflowDefinition, values: NodeValues, add: Add) -> None:
    total, free = values.capacity_total, values.capacity_free
    for key, number in (("capacity_total", total), ("capacity_free", free)):
        if number is not None and number < 0:
            add(key, Text("Debe ser un número entero de 0 o más.", "Must be a whole number, 0 or more."))
    if (total is None) != (free is None):
        key = "capacity_free" if free is None else "capacity_total"
        add(key, Text("Indique cupos libres y totales, o ninguno de los dos (el nodo no cuenta cupos).",
                      "Give both free and total places, or neither (the node does not count places)."))
    elif total is not None and free is not None and 0 <= total < free:
        add("capacity_free", Text(f"Los cupos libres ({free}) no pueden superar el total ({total}).",
                                  f"Free places ({free}) cannot exceed the total ({total})."))
    counted = [s for s in values.services if (service := definition.network.services.get(s)) and service.capacity]
    if total is not None and not counted:
        names = [s.label for s in definition.network.services.values() if s.capacity]
        add("capacity_total", Text(
            f"Solo cuenta cupos un nodo que ofrece {' o '.join(t.es for t in names) or 'un servicio con cupos'}.",
            f"Only a node offering {' or '.join(t.get('en') for t in names) or 'a service with places'} "
            "counts places."))


def _check_contacts(values: NodeValues, add: Add) -> None:
    email, phone = values.contact_email, values.contact_phone
    if email:
        if len(email) > LIMITS["contact_email"]:
            add("contact_email", too_long(LIMITS["contact_email"]))
        elif not EMAIL.match(email):
            add("contact_email", Text(f"Correo no válido: {email}.", f"Not a valid e-mail address: {email}."))
    if phone:
        if len(phone) > LIMITS["contact_phone"]:
            add("contact_phone", too_long(LIMITS["contact_phone"]))
        elif not PHONE.match(phone) or sum(c.isdigit() for c in phone) < 6:
            add("contact_phone", Text(f"Teléfono no válido: {phone} (dígitos, espacios, +, -, paréntesis).",
                                      f"Not a valid phone number: {phone} (digits, spaces, +, -, brackets)."))


def _check_assignments(definition: WorkflowDefinition, values: NodeValues, existing: Node | None,
                       held: Sequence[Assignment], add: Add) -> None:
    """A node holding a network function keeps what the function needs: being active, and serving
    the region it holds it for. The function is reassigned first (the intake routes by it)."""
    if existing is None:
        return
    if not values.active:
        for assignment in held:
            label = _function_label(definition, assignment)
            add("active", Text(f"El nodo tiene asignada la función {label.es}; asígnela a otro nodo antes de "
                               "desactivarlo.",
                               f"The node holds the function {label.en}; assign it to another node before "
                               "deactivating it."))
    if values.level == NATIONAL:
        return
    for assignment in held:
        if assignment.region_code and assignment.region_code not in values.regions:
            label = _function_label(definition, assignment)
            add("regions", Text(f"El nodo tiene asignada la función {label.es}: no puede dejar de atender "
                                f"{assignment.region_code}; reasigne antes la función.",
                                f"The node holds the function {label.en}: it cannot stop serving "
                                f"{assignment.region_code}; reassign the function first."))


def region_codes(session: Session) -> list[str]:
    return list(session.scalars(select(Region.code).order_by(Region.position)))


def changed_fields(node: Node, values: NodeValues) -> list[str]:
    current = NodeValues.of(node)
    keys = [k for k in ("short_name", "name", "org_type", "level", "services", "capacity_total", "capacity_free",
                        "contact_email", "contact_phone", "active", "home_region")
            if getattr(current, k) != getattr(values, k)]
    if set(current.regions) != set(values.regions):
        keys.append("regions")
    return keys


def apply_node(node: Node | None, values: NodeValues, now: dt.datetime) -> tuple[Node, list[str]]:
    """Write `values` onto `node` (its code stays), or make a new node of them (not yet added to the
    session); return the node and the fields that changed (all, for a new one)."""
    if node is None:
        node, changed = Node(code=values.code), ["code", *MANAGER_FIELDS, "regions"]
    else:
        changed = changed_fields(node, values)
    for key in ("short_name", "name", "org_type", "level", "capacity_total", "capacity_free", "contact_email",
                "contact_phone", "active", "home_region"):
        setattr(node, key, getattr(values, key))
    node.services = list(values.services)
    if "regions" in changed:
        kept = {served.region_code: served for served in node.regions_served}
        node.regions_served = [kept.get(code) or NodeRegion(region_code=code) for code in values.regions]
    if values.capacity_total is None:
        node.capacity_updated_at = None
    elif {"capacity_total", "capacity_free"} & set(changed):
        node.capacity_updated_at = now
    return node, changed


# -- what the administration pages call ----------------------------------------------------------


def find_node(session: Session, node_id: int) -> Node:
    node = session.get(Node, node_id)
    if node is None:
        raise NodeNotFound()
    return node


def code_taken(session: Session, code: str) -> bool:
    return session.scalar(select(func.count()).select_from(Node).where(Node.code == code)) > 0


def _administrator(ctx: Context, actor: User) -> None:
    if not may_manage_network(ctx.definition, actor):
        raise NotAllowed()


def create_node(ctx: Context, actor: User, values: NodeValues) -> Node:
    """A new node; InvalidValues if a rule is broken or the code exists already (a second submission)."""
    _administrator(ctx, actor)
    values = replace(values, home_region=home_region(None, values.level, values.regions))
    errors = check_node(ctx.definition, values, region_codes=region_codes(ctx.session))
    if values.code and code_taken(ctx.session, values.code):
        errors.setdefault("code", []).append(Text(f"Ya existe un nodo con el código {values.code}.",
                                                  f"A node with code {values.code} already exists."))
    if errors:
        raise InvalidValues(errors)
    node, _changed = apply_node(None, values, ctx.now())
    ctx.session.add(node)
    ctx.session.flush()
    record(ctx, "node.created", role=actor.role, node_id=actor.node_id, subject=str(node.id),
           details={"node": node.id, "active": node.active})
    return node


def update_node(ctx: Context, actor: User, node_id: int, values: NodeValues) -> list[str]:
    """Save an administrator's edit of a node (its code stays); return what changed."""
    _administrator(ctx, actor)
    node = find_node(ctx.session, node_id)
    values = replace(values, code=node.code, home_region=home_region(node, values.level, values.regions))
    errors = check_node(ctx.definition, values, region_codes=region_codes(ctx.session), existing=node,
                        held=held_assignments(ctx.session, node.id))
    if errors:
        raise InvalidValues(errors)
    _node, changed = apply_node(node, values, ctx.now())
    ctx.session.flush()
    if changed:
        record(ctx, "node.updated", role=actor.role, node_id=actor.node_id, subject=str(node.id),
               details={"node": node.id, "fields": sorted(changed)})
    return changed


def may_manage_own_node(user: User) -> bool:
    return bool(user.active and user.manages_node)


def may_manage_network(definition: WorkflowDefinition, user: User) -> bool:
    role = definition.roles.get(user.role)
    return bool(user.active and role and MANAGE_NETWORK in role.capabilities)


def update_own_node(ctx: Context, user: User, *, services: Sequence[str], capacity_total: int | None,
                    capacity_free: int | None, contact_email: str | None, contact_phone: str | None) -> list[str]:
    """A node manager's edit of their own node: services, places and contacts, nothing else."""
    if not may_manage_own_node(user):
        raise NotAllowed(Text("Solo quien gestiona el nodo puede cambiar sus datos.",
                              "Only the node's manager may change its data."))
    node = find_node(ctx.session, user.node_id)
    values = replace(NodeValues.of(node), services=dedupe(services), capacity_total=capacity_total,
                     capacity_free=capacity_free, contact_email=contact_email or None,
                     contact_phone=contact_phone or None)
    errors = check_node(ctx.definition, values, region_codes=region_codes(ctx.session), existing=node,
                        held=held_assignments(ctx.session, node.id))
    if errors:
        raise InvalidValues({k: v for k, v in errors.items() if k in MANAGER_FIELDS} or errors)
    _node, changed = apply_node(node, values, ctx.now())
    ctx.session.flush()
    if changed:
        record(ctx, "own_node.updated", role=user.role, node_id=user.node_id, subject=str(node.id),
               details={"node": node.id, "fields": sorted(changed)})
    return changed


# -- members of a node ----------------------------------------------------------------------------


def members(session: Session, node_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.node_id == node_id)
                                .order_by(User.active.desc(), User.display_name)))


def _check_role(definition: WorkflowDefinition, role: str, errors: dict[str, list[Text]]) -> None:
    if not role:
        errors.setdefault("role", []).append(REQUIRED)
    elif role not in definition.roles:
        errors.setdefault("role", []).append(Text(f"Rol desconocido: {role}.", f"Unknown role: {role}."))


@dataclass(frozen=True)
class NewMember:
    user: User
    grant: AccessGrant | None  # set when the role reads cases: the account waits, inactive, for approval
    enrolment_token: str | None  # otherwise: the one-time link's token, to be shown once and forgotten


@dataclass(frozen=True)
class MemberChange:
    changed: list[str]  # what took effect at once
    grant: AccessGrant | None  # what waits for a second person's approval


def _check_email(ctx: Context, email: str, errors: dict[str, list[Text]], user_id: int | None = None) -> None:
    if not email:
        errors["email"] = [REQUIRED]
    elif len(email) > LIMITS["email"]:
        errors["email"] = [too_long(LIMITS["email"])]
    elif not EMAIL.match(email) or has_control(email) or has_spoofing(email):
        errors["email"] = [Text(f"Correo no válido: {email}.", f"Not a valid e-mail address: {email}.")]
    elif ctx.session.scalar(select(func.count()).select_from(User)
                            .where(func.lower(User.email) == email, User.id != (user_id or 0))):
        errors["email"] = [Text(f"Ya existe una cuenta con el correo {email}.",
                                f"An account with the e-mail {email} already exists.")]


def add_member(ctx: Context, actor: User, node_id: int, *, email: str, display_name: str, role: str, manages_node: bool,
               active: bool) -> NewMember:
    """A new account in the node, without a password (the person sets hers through a one-time enrolment
    link). A role that reads cases makes it a request: inactive, no link, until a second person approves."""
    _administrator(ctx, actor)
    node = find_node(ctx.session, node_id)
    email, display_name = email.strip().lower(), display_name.strip()
    errors: dict[str, list[Text]] = {}
    _check_email(ctx, email, errors)
    if not display_name:
        errors["display_name"] = [REQUIRED]
    elif len(display_name) > LIMITS["display_name"]:
        errors["display_name"] = [too_long(LIMITS["display_name"])]
    _check_role(ctx.definition, role, errors)
    if errors:
        raise InvalidValues(errors)
    requested = grants.requested_changes(ctx.definition, None, role=role, node_id=node.id, email=email, active=active)
    user = User(email=email, display_name=display_name, role=role, node_id=node.id,
                active=active and not requested, manages_node=manages_node, password_hash=NO_PASSWORD,
                failed_logins=0, created_at=ctx.now())
    ctx.session.add(user)
    ctx.session.flush()
    record(ctx, "account.created", role=actor.role, node_id=actor.node_id, subject=str(user.id),
           details={"user": user.id, "to_role": role, "to_node": node.id, "pending": bool(requested),
                    "manages_node": manages_node})
    if requested:
        return NewMember(user, grants.propose(ctx, actor, user, requested), None)
    return NewMember(user, None, tokens.issue(ctx.session, user, tokens.ENROL, ctx.now()))


def bootstrap_account(ctx: Context, *, email: str, display_name: str, node_code: str, role: str,
                      manages_node: bool) -> NewMember:
    """An account made from the server's command line (`flask users create`): the first administrator and
    the first approvers of a deployment, who cannot come through the pages (creating them there needs an
    administrator, and approving them an approver). Whoever runs it already holds the server, its database
    and its master key; it is audited like any account creation, `via` the command line. Without a
    password: the person sets hers through the one-time link."""
    email, display_name = email.strip().lower(), display_name.strip()
    errors: dict[str, list[Text]] = {}
    _check_email(ctx, email, errors)
    if not display_name or len(display_name) > LIMITS["display_name"] or has_control(display_name) \
            or has_spoofing(display_name):
        errors["display_name"] = [Text("Escriba un nombre válido.", "Write a valid name.")]
    _check_role(ctx.definition, role, errors)
    node = ctx.session.scalar(select(Node).where(Node.code == node_code.strip().upper()))
    if node is None:
        errors["node"] = [Text(f"Nodo desconocido: {node_code}.", f"Unknown node: {node_code}.")]
    if errors:
        raise InvalidValues(errors)
    assert node is not None
    user = User(email=email, display_name=display_name, role=role, node_id=node.id, active=True,
                manages_node=manages_node, password_hash=NO_PASSWORD, failed_logins=0, created_at=ctx.now())
    ctx.session.add(user)
    ctx.session.flush()
    record(ctx, "account.created", subject=str(user.id),
           details={"user": user.id, "to_role": role, "to_node": node.id, "pending": False,
                    "manages_node": manages_node, "via": "cli"})
    return NewMember(user, None, tokens.issue(ctx.session, user, tokens.ENROL, ctx.now()))


def _check_member_change(ctx: Context, actor: User, user: User, *, role: str, node_id: int, email: str,
                         active: bool) -> dict[str, list[Text]]:
    errors: dict[str, list[Text]] = {}
    _check_role(ctx.definition, role, errors)
    if email != user.email:
        _check_email(ctx, email, errors, user.id)
    if node_id != user.node_id and ctx.session.get(Node, node_id) is None:
        errors["node_id"] = [Text("Nodo desconocido.", "Unknown node.")]
    if user.id == actor.id and (role != user.role or not active or node_id != user.node_id or email != user.email):
        key = "role" if role != user.role else "active" if not active else "node_id" if node_id != user.node_id else "email"
        errors.setdefault(key, []).append(Text(
            "No puede cambiar el rol, el nodo, el correo ni la activación de su propia cuenta: lo hace otra persona.",
            "You cannot change your own account's role, node, e-mail nor activation: someone else does."))
    if grants.pending_for(ctx.session, user.id) is not None and (
            role != user.role or node_id != user.node_id or email != user.email or (active and not user.active)):
        errors.setdefault("role", []).append(Text(
            "Hay una solicitud de acceso pendiente sobre esta cuenta: espere la decisión (solo puede desactivarla "
            "mientras tanto).", "An access request about this account is pending: wait for the decision (meanwhile "
            "you may only deactivate it)."))
    return errors


def update_member(ctx: Context, actor: User, node_id: int, user_id: int, *, role: str, manages_node: bool,
                  active: bool, to_node_id: int | None = None, email: str | None = None) -> MemberChange:
    """Change a member's role, node, e-mail, manager flag or activation. What reduces access takes effect
    at once; what would let the account read cases becomes a request for a second person's approval."""
    _administrator(ctx, actor)
    user = ctx.session.get(User, user_id)
    if user is None or user.node_id != node_id:
        raise MemberNotFound()
    to_node = user.node_id if to_node_id is None else to_node_id
    new_email = user.email if email is None else email.strip().lower()
    errors = _check_member_change(ctx, actor, user, role=role, node_id=to_node, email=new_email, active=active)
    if errors:
        raise InvalidValues(errors)
    requested = grants.requested_changes(ctx.definition, user, role=role, node_id=to_node, email=new_email,
                                         active=active)
    if requested:  # only what reduces access now (the manager flag, a deactivation); the rest waits
        changed = _apply_at_once(ctx, actor, user, manages_node=manages_node, active=active and user.active)
    else:
        changed = _apply_at_once(ctx, actor, user, manages_node=manages_node, active=active, role=role,
                                 node_id=to_node, email=new_email)
    grant = grants.propose(ctx, actor, user, requested, new_email) if requested else None
    return MemberChange(changed, grant)


def _apply_at_once(ctx: Context, actor: User, user: User, *, manages_node: bool, active: bool,
                   role: str | None = None, node_id: int | None = None, email: str | None = None) -> list[str]:
    """Apply the changes that need no approval; one audit event each (codes and ids only)."""
    changed: list[str] = []

    def event(action: str, **details: Any) -> None:
        record(ctx, action, role=actor.role, node_id=actor.node_id, subject=str(user.id),
               details={"user": user.id, **details})

    if role is not None and role != user.role:
        event("account.role_changed", from_role=user.role, to_role=role)
        user.role = role
        changed.append("role")
    if node_id is not None and node_id != user.node_id:
        event("account.node_changed", from_node=user.node_id, to_node=node_id)
        user.node_id = node_id
        changed.append("node_id")
    if email is not None and email != user.email:
        event("account.email_changed")
        user.email = email
        tokens.end_tokens(ctx.session, user.id, None, ctx.now())
        changed.append("email")
    if manages_node != user.manages_node:
        event("account.manager_changed", manages_node=manages_node)
        user.manages_node = manages_node
        changed.append("manages_node")
    if active != user.active:
        event("account.reactivated" if active else "account.deactivated")
        user.active = active
        if active:
            user.failed_logins, user.locked_until = 0, None
        changed.append("active")
    ctx.session.flush()
    return changed
