"""View models of the node directory pages: plain values, so templates hold no queries and no decisions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from ..auth.models import User
from ..workflow import WorkflowDefinition
from .directory import LEVELS, NATIONAL, ORG_TYPES
from .editing import served_regions
from .models import Node, NodeRegion, Region

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
