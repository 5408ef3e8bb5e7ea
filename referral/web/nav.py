"""The navigation bar for the signed-in user, computed here so templates hold no decisions."""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Engine, Select, select

from ..auth.models import User
from ..kernel.access import has_capability, may_open_cases
from ..cases.drafts import draft_count_query, may_draft
from ..cases.erasure import may_erase
from ..cases.inbox import inbox_count_queries, inboxes_for
from ..cases.intake import may_file_intake
from ..clocks.reading import unread_query
from ..context import Context
from ..generation import current as current_generation
from ..network.editing import MANAGE_NETWORK, may_manage_own_node
from ..plan.service import may_read as may_read_plan
from ..network.grants import APPROVE_ACCESS, node_holds_query, pending_count_query, unread_notices_query
from ..referrals.emergency import may_break_glass
from ..referrals.reading import pending_query
from .context import current_ctx, language


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool
    count: int | None = None


class CountCache:
    """The navigation's counts per user (her id, node, role, whether she manages her node), reused while the database's change generation
    (referral/generation.py) is the one they were counted at, and for at most MAX_AGE (an access that expires
    with time changes no row). Counts only: never a case's content. One per process, bounded (oldest first out)."""

    MAX_AGE = dt.timedelta(seconds=60)
    SIZE = 10_000

    def __init__(self) -> None:
        self._found: OrderedDict[tuple[int, int, str, bool], tuple[int, dt.datetime, dict[str, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int, str, bool], generation: int, now: dt.datetime) -> dict[str, int] | None:
        with self._lock:
            found = self._found.get(key)
            if found is None or found[0] != generation or now - found[1] > self.MAX_AGE or now < found[1]:
                return None
            return dict(found[2])

    def put(self, key: tuple[int, int, str, bool], generation: int, now: dt.datetime, counts: dict[str, int]) -> None:
        with self._lock:
            self._found[key] = (generation, now, dict(counts))
            self._found.move_to_end(key)
            while len(self._found) > self.SIZE:
                self._found.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


CACHES: weakref.WeakKeyDictionary[Engine, CountCache] = weakref.WeakKeyDictionary()  # one per database


def count_cache(engine: Engine) -> CountCache:
    cache = CACHES.get(engine)
    if cache is None:
        cache = CACHES[engine] = CountCache()
    return cache


def nav_counts(ctx: Context, user: User) -> dict[str, int]:
    """The navigation's counts for this user: from her database's CountCache while no transaction has written
    case or network data since they were counted (one primary-key read), else counted now (`count_now`)."""
    generation = current_generation(ctx.session)
    if generation is None:
        return count_now(ctx, user)
    cache, key, now = count_cache(ctx.session.get_bind().engine), (user.id, user.node_id, user.role, user.manages_node), ctx.now()
    counts = cache.get(key, generation, now)
    if counts is None:
        counts = count_now(ctx, user)
        cache.put(key, generation, now, counts)
    return counts


def count_now(ctx: Context, user: User) -> dict[str, int]:
    """Every count the navigation shows this user, in ONE statement (issue 17): the worklists' sizes
    (keyed by worklist), and «referrals», «drafts», «notifications», «notices», «approvals» and
    «holds_approval» (whether her node holds the network function approvals are tied to) where they apply."""
    queries: dict[str, Select[tuple[int]]] = dict(inbox_count_queries(ctx, user))
    if may_open_cases(ctx, user) and (referrals := pending_query(ctx, user)) is not None:
        queries["referrals"] = referrals
    if may_draft(ctx, user):
        queries["drafts"] = draft_count_query(ctx, user)
    queries["notifications"] = unread_query(user)
    if may_manage_own_node(user):
        queries["notices"] = unread_notices_query(user.id)
    role = ctx.definition.roles.get(user.role)
    if user.active and role and APPROVE_ACCESS in role.capabilities:  # may_approve, its SQL half inlined
        function = role.held_at.get(APPROVE_ACCESS)
        if function is not None:
            queries["holds_approval"] = node_holds_query(user.node_id, function)
        queries["approvals"] = pending_count_query(ctx.now())
    names = list(queries)  # labels of their own: a worklist key is a workflow word, not an SQL name
    row = ctx.session.execute(select(*(queries[name].scalar_subquery().label(f"c{i}")
                                       for i, name in enumerate(names)))).one()
    counts = {name: int(value or 0) for name, value in zip(names, row, strict=True)}
    if "approvals" in counts and counts.pop("holds_approval", 1) == 0:
        del counts["approvals"]  # the role may approve only at the node holding the function: not hers
    return counts


def nav_items() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    ctx = current_ctx()
    lang = language()
    items = []
    counts = nav_counts(ctx, current_user)
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
        items.append(NavItem(_("Derivaciones"), url, request.path == url, counts.get("referrals") or None))
    if may_break_glass(ctx, current_user):
        url = url_for("referrals.emergency")
        items.append(NavItem(_("Acceso de emergencia"), url, request.path == url))
    if has_capability(ctx, current_user, "audit"):
        for label, endpoint in ((_("Estadísticas"), "stats.statistics"), (_("Tablero del proceso"), "stats.board"),
                                (_("Líneas de tiempo"), "stats.cases"), (_("Excepciones"), "referrals.audit_exceptions")):
            url = url_for(endpoint)
            items.append(NavItem(label, url, request.path == url or (endpoint == "stats.cases"
                                                                     and request.path.startswith(url + "/"))))
    if may_read_plan(ctx, current_user):
        url = url_for("plan.index")
        items.append(NavItem(_("Plan de Acción"), url, request.path.startswith(url)))
    if any(has_capability(ctx, current_user, c) for c in ("plan_manage", "plan_report", "audit")):
        url = url_for("mesa.index")  # issue 18: the Mesa Intersectorial's sessions and agreements
        items.append(NavItem(_("Mesa Intersectorial"), url, request.path.startswith(url)))
    if may_file_intake(ctx, current_user):
        url = url_for("cases.new_intake")
        items.append(NavItem(_("Nueva Ficha"), url, request.path == url))
    if may_draft(ctx, current_user):
        url = url_for("cases.drafts")
        items.append(NavItem(_("Mis borradores"), url, request.path.startswith(url), counts.get("drafts") or None))
    url = url_for("clocks.notifications")
    items.append(NavItem(_("Notificaciones"), url, request.path.startswith(url), counts["notifications"]))
    if may_erase(ctx, current_user):
        url = url_for("admin.erased")
        items.append(NavItem(_("Casos eliminados"), url, request.path in (url, url_for("admin.erase"))))
    if has_capability(ctx, current_user, MANAGE_NETWORK):
        url = url_for("network.nodes")
        requests_url = url_for("network.grant_requests")
        items.append(NavItem(_("Directorio de nodos"), url, request.path.startswith(url)
                             and request.path != requests_url))
        items.append(NavItem(_("Solicitudes de acceso"), requests_url, request.path == requests_url))
    if "approvals" in counts:  # may_approve: only for those who decide
        url = url_for("network.approvals")
        items.append(NavItem(_("Solicitudes de acceso"), url, request.path == url, counts["approvals"] or None))
    if may_manage_own_node(current_user):
        url = url_for("network.my_node")
        items.append(NavItem(_("Mi nodo"), url, request.path == url, counts.get("notices") or None))
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
