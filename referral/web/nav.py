"""The navigation bar for the signed-in user, computed here so templates hold no decisions."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..cases.access import has_capability, may_open_cases
from ..cases.drafts import draft_count, may_draft
from ..cases.erasure import may_erase
from ..cases.inbox import inbox_counts, inboxes_for
from ..cases.intake import may_file_intake
from ..clocks.reading import unread_count
from ..network.editing import MANAGE_NETWORK, may_manage_own_node
from ..network.grants import may_approve, pending_count, unread_notices
from ..referrals.emergency import may_break_glass
from ..referrals.reading import pending_for
from .context import current_ctx, language


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool
    count: int | None = None


def nav_items() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    ctx = current_ctx()
    lang = language()
    items = []
    counts = inbox_counts(ctx, current_user)
    for inbox in inboxes_for(ctx, current_user):
        url = url_for("cases.inbox", key=inbox.key)
        items.append(NavItem(inbox.label.get(lang), url, request.path == url, counts.get(inbox.key)))
    if may_open_cases(ctx, current_user):  # [producto] issue 16: the cases she is responsible for
        url = url_for("cases.responsible_cases")
        items.append(NavItem(_("Mis casos"), url, request.path == url))
    if may_open_cases(ctx, current_user):
        url = url_for("cases.my_cases")
        items.append(NavItem(_("Casos de mi nodo"), url, request.path == url))
    if may_open_cases(ctx, current_user):
        url = url_for("referrals.mine")
        items.append(NavItem(_("Derivaciones"), url, request.path == url, pending_for(ctx, current_user) or None))
    if may_break_glass(ctx, current_user):
        url = url_for("referrals.emergency")
        items.append(NavItem(_("Acceso de emergencia"), url, request.path == url))
    if has_capability(ctx, current_user, "audit"):
        for label, endpoint in ((_("Estadísticas"), "stats.statistics"), (_("Tablero del proceso"), "stats.board"),
                                (_("Líneas de tiempo"), "stats.cases"), (_("Excepciones"), "referrals.audit_exceptions")):
            url = url_for(endpoint)
            items.append(NavItem(label, url, request.path == url or (endpoint == "stats.cases"
                                                                     and request.path.startswith(url + "/"))))
    if may_file_intake(ctx, current_user):
        url = url_for("cases.new_intake")
        items.append(NavItem(_("Nueva Ficha"), url, request.path == url))
    if may_draft(ctx, current_user):  # one count query, for those who may file a Ficha
        url = url_for("cases.drafts")
        items.append(NavItem(_("Mis borradores"), url, request.path.startswith(url),
                             draft_count(ctx, current_user) or None))
    url = url_for("clocks.notifications")
    items.append(NavItem(_("Notificaciones"), url, request.path.startswith(url), unread_count(ctx, current_user)))
    if may_erase(ctx, current_user):
        url = url_for("admin.erased")
        items.append(NavItem(_("Casos eliminados"), url, request.path in (url, url_for("admin.erase"))))
    if has_capability(ctx, current_user, MANAGE_NETWORK):
        url = url_for("network.nodes")
        requests_url = url_for("network.grant_requests")
        items.append(NavItem(_("Directorio de nodos"), url, request.path.startswith(url)
                             and request.path != requests_url))
        items.append(NavItem(_("Solicitudes de acceso"), requests_url, request.path == requests_url))
    if may_approve(ctx, current_user):  # one count query, only for those who decide
        url = url_for("network.approvals")
        items.append(NavItem(_("Solicitudes de acceso"), url, request.path == url,
                             pending_count(ctx.session, ctx.now()) or None))
    if may_manage_own_node(current_user):
        url = url_for("network.my_node")
        items.append(NavItem(_("Mi nodo"), url, request.path == url,
                             unread_notices(ctx.session, current_user.id) or None))
    url = url_for("main.protocol")
    items.append(NavItem(_("Protocolo vigente"), url, request.path == url))
    return items


def who_am_i() -> str:
    if not current_user.is_authenticated:
        return ""
    role = current_ctx().definition.roles.get(current_user.role)
    role_label = role.label.get(language()) if role else current_user.role
    return f"{current_user.display_name} · {role_label} · {current_user.node.short_name}"


def may_search() -> bool:
    """Whether the header shows the case search box (issue 16): whoever may open cases."""
    return bool(current_user.is_authenticated and may_open_cases(current_ctx(), current_user))


def template_globals() -> dict[str, object]:
    return {"nav_items": nav_items, "who_am_i": who_am_i, "current_language": language, "may_search": may_search}
