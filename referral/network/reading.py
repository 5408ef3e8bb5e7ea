"""View models of the node directory pages: plain values, so templates hold no queries and no decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from ..auth.models import User
from ..workflow import Text, WorkflowDefinition
from . import grants
from .directory import LEVELS, NATIONAL, ORG_TYPES
from .editing import served_regions
from .models import AccessGrant, AccessNotice, Node, NodeRegion, Region

ACTIVE_FILTERS = ("si", "no")


@dataclass(frozen=True)
class Filters:
    region: str = ""
    org_type: str = ""
    active: str = ""  # "si", "no" or "" (both)


@dataclass(frozen=True)
class NodeRow:
    id: int
    code: str
    short_name: str
    name: str
    org_type: str
    level: str
    regions: str
    services: tuple[str, ...]
    capacity: str | None  # "free / total", or None: the node does not count places
    capacity_updated_at: str | None
    contact_email: str | None
    contact_phone: str | None
    active: bool


@dataclass(frozen=True)
class DirectoryPage:
    rows: list[NodeRow]
    filters: Filters
    regions: list[tuple[str, str]]  # (code, name) for the filter
    org_types: list[tuple[str, str]]


@dataclass(frozen=True)
class MemberRow:
    id: int
    email: str
    display_name: str
    role: str
    manages_node: bool
    active: bool


def region_choices(session: Session) -> list[tuple[str, str]]:
    return [(r.code, f"{r.name} ({r.code})") for r in session.scalars(select(Region).order_by(Region.position))]


def org_type_choices(lang: str) -> list[tuple[str, str]]:
    return [(key, label.get(lang)) for key, label in ORG_TYPES.items()]


def level_choices(lang: str) -> list[tuple[str, str]]:
    return [(key, label.get(lang)) for key, label in LEVELS.items()]


def service_choices(definition: WorkflowDefinition, lang: str) -> list[tuple[str, str]]:
    return [(key, service.label.get(lang)) for key, service in definition.network.services.items()]


def role_choices(definition: WorkflowDefinition, lang: str) -> list[tuple[str, str]]:
    return [(key, role.label.get(lang)) for key, role in definition.roles.items()]


def parse_filters(session: Session, region: str | None, org_type: str | None, active: str | None) -> Filters | None:
    """The list's filters from the query string; None if a value is not one the page offers (a 400)."""
    region, org_type, active = region or "", org_type or "", active or ""
    if region and region not in {code for code, _ in region_choices(session)}:
        return None
    if org_type and org_type not in ORG_TYPES:
        return None
    if active and active not in ACTIVE_FILTERS:
        return None
    return Filters(region, org_type, active)


def local_time(moment: dt.datetime | None, timezone: ZoneInfo) -> str | None:
    return moment.astimezone(timezone).strftime("%d-%m-%Y %H:%M") if moment else None


def node_row(node: Node, definition: WorkflowDefinition, lang: str, timezone: ZoneInfo) -> NodeRow:
    services = definition.network.services
    has_places = node.capacity_total is not None
    return NodeRow(
        id=node.id, code=node.code, short_name=node.short_name, name=node.name,
        org_type=ORG_TYPES[node.org_type].get(lang) if node.org_type in ORG_TYPES else node.org_type,
        level=LEVELS[node.level].get(lang) if node.level in LEVELS else node.level,
        regions=", ".join(served_regions(node)) if node.level != NATIONAL else LEVELS[NATIONAL].get(lang),
        services=tuple(services[s].label.get(lang) if s in services else s for s in node.services or ()),
        capacity=f"{node.capacity_free} / {node.capacity_total}" if has_places else None,
        capacity_updated_at=local_time(node.capacity_updated_at, timezone) if has_places else None,
        contact_email=node.contact_email, contact_phone=node.contact_phone, active=node.active,
    )


def directory_page(session: Session, definition: WorkflowDefinition, lang: str, timezone: ZoneInfo,
                   filters: Filters) -> DirectoryPage:
    """Every node matching the filters, by short name. A region's nodes are those serving it
    (national nodes serve every region)."""
    query = select(Node).options(selectinload(Node.regions_served)).order_by(Node.short_name, Node.code)
    if filters.region:
        serving = select(NodeRegion.node_id).where(NodeRegion.region_code == filters.region)
        query = query.where(or_(Node.level == NATIONAL, Node.id.in_(serving)))
    if filters.org_type:
        query = query.where(Node.org_type == filters.org_type)
    if filters.active:
        query = query.where(Node.active == (filters.active == "si"))
    rows = [node_row(node, definition, lang, timezone) for node in session.scalars(query)]
    return DirectoryPage(rows, filters, region_choices(session), org_type_choices(lang))


def member_rows(users: list[User], definition: WorkflowDefinition, lang: str) -> list[MemberRow]:
    roles = definition.roles
    return [MemberRow(u.id, u.email, u.display_name, roles[u.role].label.get(lang) if u.role in roles else u.role,
                      u.manages_node, u.active) for u in users]


def node_choices(session: Session) -> list[tuple[str, str]]:
    return [(str(n.id), f"{n.short_name} ({n.code})") for n in session.scalars(select(Node).order_by(Node.short_name))]


@dataclass(frozen=True)
class GrantRow:
    """One access request as the pages show it: who it is about, what would change, its state."""

    id: str
    user_id: int
    user_name: str  # staff are not victims: the approver sees whose access she decides
    user_email: str
    node: str
    role: str  # the account's role now
    changes: tuple[tuple[str, str], ...]  # (what, to what) in words
    new_email: str | None
    proposed_by: int
    proposer: str
    proposed_at: str
    expires_at: str
    state: str
    state_label: str
    decided_at: str | None
    decider: str | None
    reason: str | None


def _change_words(grant: AccessGrant, definition: WorkflowDefinition, lang: str,
                  node_names: dict[int, str]) -> tuple[tuple[str, str], ...]:
    roles, words = definition.roles, []
    for key, value in grant.changes.items():
        label = grants.CHANGES.get(key)
        if label is None or value is False:
            continue
        if key == "role":
            shown = roles[str(value)].label.get(lang) if str(value) in roles else str(value)
        elif key == "node_id":
            shown = node_names.get(int(value), str(value))  # type: ignore[call-overload]
        elif key == "email":
            shown = grant.new_email or ""
        else:
            shown = ""
        words.append((label.get(lang), shown))
    return tuple(words)


def grant_rows(session: Session, found: Sequence[AccessGrant], definition: WorkflowDefinition, lang: str,
               timezone: ZoneInfo) -> list[GrantRow]:
    ids = {g.user_id for g in found} | {g.proposed_by for g in found} | {g.decided_by for g in found if g.decided_by}
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    node_names = {n.id: n.short_name for n in session.scalars(select(Node))}
    roles, rows = definition.roles, []
    for grant in found:
        user, proposer = people[grant.user_id], people[grant.proposed_by]
        decider = people.get(grant.decided_by) if grant.decided_by else None
        reason = grants.REASONS.get(grant.state, {}).get(grant.reason or "")
        rows.append(GrantRow(
            id=str(grant.id), user_id=user.id, user_name=user.display_name, user_email=user.email,
            node=node_names.get(user.node_id, ""), role=roles[user.role].label.get(lang) if user.role in roles
            else user.role, changes=_change_words(grant, definition, lang, node_names), new_email=grant.new_email,
            proposed_by=proposer.id, proposer=proposer.display_name,
            proposed_at=local_time(grant.proposed_at, timezone) or "",
            expires_at=local_time(grant.expires_at, timezone) or "", state=grant.state,
            state_label=grants.STATES[grant.state].get(lang), decided_at=local_time(grant.decided_at, timezone),
            decider=decider.display_name if decider else None, reason=reason.get(lang) if reason else None))
    return rows


NOTICE_WORDS = {
    "requested": Text("Se solicitó un cambio de acceso de {name}", "An access change was requested for {name}"),
    "approved": Text("Se aprobó el cambio de acceso de {name}", "The access change of {name} was approved"),
    "rejected": Text("Se rechazó el cambio de acceso de {name}", "The access change of {name} was rejected"),
    "expired": Text("Caducó la solicitud de acceso de {name}", "The access request for {name} expired"),
}


@dataclass(frozen=True)
class NoticeRow:
    text: str
    at: str
    unread: bool


def notice_rows(session: Session, found: Sequence[AccessNotice], definition: WorkflowDefinition, lang: str,
                timezone: ZoneInfo) -> list[NoticeRow]:
    """A node manager's notices of access requests about her node's accounts."""
    grant_ids = {n.grant_id for n in found}
    about = dict(session.execute(select(AccessGrant.id, User.display_name).join(User, User.id == AccessGrant.user_id)
                                 .where(AccessGrant.id.in_(grant_ids))).all()) if grant_ids else {}
    return [NoticeRow(NOTICE_WORDS[n.event].get(lang).format(name=about.get(n.grant_id, "?")),
                      local_time(n.created_at, timezone) or "", n.read_at is None) for n in found]
