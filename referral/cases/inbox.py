"""Worklists: the cases a user's node must act on, what needs action first.

The query selects, filters and orders on clear routing columns only (state, region, flags, clock
deadlines); the sealed summary is opened for the rows of the page shown and no others. Order: the
case with the soonest (or most overdue) running deadline first, then priority flags, then newest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, exists, func, or_, select

from ..auth.models import User
from ..clocks.models import RUNNING, CaseClock
from ..clocks.reading import ClockRow, clock_rows
from ..context import Context
from ..kernel.keystore import open_many
from ..network.models import Node, Region
from ..workflow import Text
from ..workflow.definition import Inbox
from ..kernel.access import may_open_cases
from ..kernel.models import Case, Participant, WorklistEntry, live_participant
from .reading import Reader
from .search import MAX_FILTER, matches
from .worklists import deadline_clocks

PAGE_SIZE = 25
MY_CASES = Text("Casos de mi nodo", "My node's cases")
RESPONSIBLE_CASES = Text("Mis casos", "My cases")  # [producto] issue 16: where she is «responsable»


@dataclass(frozen=True)
class CaseRow:
    reference: str
    state_label: str
    region: str
    detecting_node: str
    opened_at: str
    flags: tuple[tuple[str, str], ...]
    person: str
    clocks: tuple[ClockRow, ...] = ()  # running deadlines, soonest first
    mine: bool = False  # the user's role can take a step of it now (not waiting for another node)


@dataclass(frozen=True)
class Filters:
    """What a worklist may be narrowed to: all routing data in clear, nothing about the person."""

    region: str | None = None
    state: str | None = None
    flags: tuple[str, ...] = ()  # every one of these flags set (child case, immediate risk)
    overdue: bool = False  # a running deadline has passed

    def query(self, **changes: object) -> str:
        """The URL query of these filters (for links that keep them), with `changes` applied."""
        values = {"region": self.region, "estado": self.state, "senal": list(self.flags),
                  "vencidos": "1" if self.overdue else None, **changes}
        return urlencode([(k, v) for k, value in values.items() if value
                          for v in (value if isinstance(value, list) else [value])])


@dataclass(frozen=True)
class StateCount:
    key: str
    label: str
    count: int
    selected: bool
    query: str  # the filters with this state chosen


@dataclass(frozen=True)
class InboxPage:
    key: str
    label: str
    rows: tuple[CaseRow, ...]
    total: int
    page: int
    pages: int
    filters: Filters = field(default_factory=Filters)
    states: tuple[StateCount, ...] = ()  # how many of the filtered cases are in each state
    pager_query: str = ""  # the filters, for the pager's links
    text: str = ""  # the text filter over this page's decrypted rows (never in a URL, never stored)
    on_page: int = 0  # rows of this page before the text filter


def inboxes_for(ctx: Context, user: User) -> list[Inbox]:
    if not may_open_cases(ctx, user):
        return []
    return [inbox for inbox in ctx.definition.inboxes.values() if user.role in inbox.roles]


def _my_cases(user: User, relations: tuple[str, ...] | None, now: dt.datetime) -> Select[tuple[Case]]:
    mine = select(Participant.id).where(
        Participant.case_id == Case.id, Participant.node_id == user.node_id, live_participant(now)
    )
    if relations is not None:
        mine = mine.where(Participant.relation.in_(relations))
    return select(Case).where(exists(mine))


@dataclass(frozen=True)
class FilterOptions:
    regions: tuple[tuple[str, str], ...]  # (code, name), north to south
    flags: tuple[tuple[str, str], ...]  # (key, label)


def filter_options(ctx: Context, language: str) -> FilterOptions:
    return FilterOptions(
        tuple((r.code, r.name) for r in ctx.session.scalars(select(Region).order_by(Region.position))),
        tuple((key, flag.label.get(language)) for key, flag in ctx.definition.flags.items()),
    )


def parse_filters(ctx: Context, region: str | None, state: str | None, flags: list[str],
                  overdue: str) -> Filters | None:
    """Filters from what a query string gave; None if any value is not a region, state or flag we know."""
    region, state = region or None, state or None
    chosen = tuple(dict.fromkeys(flags))
    if (region is not None and ctx.session.get(Region, region) is None) or \
            (state is not None and state not in ctx.definition.main.states) or \
            any(flag not in ctx.definition.flags for flag in chosen) or overdue not in ("", "1"):
        return None
    return Filters(region, state, chosen, overdue == "1")


def inbox_page(ctx: Context, user: User, key: str, language: str, page: int = 1,
               filters: Filters | None = None, text: str = "") -> InboxPage | None:
    """One page of a worklist, or None if this user has no such worklist."""
    inbox = next((i for i in inboxes_for(ctx, user) if i.key == key), None)
    if inbox is None:
        return None
    filters = filters or Filters()
    now = ctx.now()
    # Read from the rows the steps keep (worklists.py), not computed over every case of the node.
    by_state = {state: count for state, count in ctx.session.execute(
        _entries(user, key, filters, now, with_state=False)
        .with_only_columns(WorklistEntry.state, func.count()).group_by(WorklistEntry.state))}
    total, page = _paged(by_state, filters, page)
    E = WorklistEntry
    listed = ctx.session.execute(
        _entries(user, key, filters, now).with_only_columns(E.case_id, E.mine)
        # What needs the user's own step first (not a case waiting for another node), then the soonest deadline.
        .order_by(E.mine.desc(), E.due_at.asc().nulls_last(), E.priority.desc(), E.created_at.desc(), E.reference)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    found = {c.id: c for c in ctx.session.scalars(select(Case).where(Case.id.in_([i for i, _ in listed])))} \
        if listed else {}
    cases = [found[case_id] for case_id, _ in listed if case_id in found]
    acting = {case_id for case_id, mine in listed if mine}
    return _rows_page(ctx, user, key, inbox.label.get(language), language, cases, acting, by_state, total, page,
                      filters, text)


def _entries(user: User, key: str, filters: Filters, now: dt.datetime, with_state: bool = True) -> Select[Any]:
    """The user's rows of worklist `key` (her node, her role, relation still live), filtered."""
    E = WorklistEntry
    query = select(E).where(E.node_id == user.node_id, E.inbox == key, E.role == user.role,
                            or_(E.expires_at.is_(None), E.expires_at > now))
    if filters.region:
        query = query.where(E.region_code == filters.region)
    if filters.state and with_state:
        query = query.where(E.state == filters.state)
    if filters.flags:
        query = query.join(Case, Case.id == E.case_id)
        for flag in filters.flags:
            query = query.where(Case.flags[flag].as_boolean())
    if filters.overdue:
        query = query.where(E.due_at <= now)
    return query


def my_cases_page(ctx: Context, user: User, language: str, page: int = 1,
                  filters: Filters | None = None, text: str = "") -> InboxPage:
    """Every case the user's node holds a live relation to, filtered."""
    return _page(ctx, user, _my_cases(user, None, ctx.now()), "mis_casos", MY_CASES.get(language), language, page,
                 filters or Filters(), text)


def responsible_cases_page(ctx: Context, user: User, language: str, page: int = 1,
                           filters: Filters | None = None, text: str = "") -> InboxPage:
    """«Mis casos»: the cases the user is responsible for at her node, while her node takes part in them."""
    from .assignment import responsible_filter  # (assignment imports the case services)

    base = _my_cases(user, None, ctx.now()).where(responsible_filter(user))
    return _page(ctx, user, base, "responsable", RESPONSIBLE_CASES.get(language), language, page,
                 filters or Filters(), text)


def _filtered(ctx: Context, query: Select[tuple[Case]], filters: Filters, now: dt.datetime,
              with_state: bool = True) -> Select[tuple[Case]]:
    if filters.region:
        query = query.where(Case.region_code == filters.region)
    if filters.state and with_state:
        query = query.where(Case.state == filters.state)
    for flag in filters.flags:
        query = query.where(Case.flags[flag].as_boolean())
    if filters.overdue:
        query = query.where(exists(select(CaseClock.id).where(
            CaseClock.case_id == Case.id, CaseClock.status == RUNNING, CaseClock.due_at <= now,
            CaseClock.clock.in_(deadline_clocks(ctx.definition)))))
    return query


def inbox_count_queries(ctx: Context, user: User) -> dict[str, Select[tuple[int]]]:
    """The count of each of the user's worklists, as statements (the navigation runs them as one)."""
    now = ctx.now()
    return {inbox.key: _entries(user, inbox.key, Filters(), now).with_only_columns(func.count())
            for inbox in inboxes_for(ctx, user)}


def inbox_counts(ctx: Context, user: User) -> dict[str, int]:
    return {key: ctx.session.scalar(query) or 0 for key, query in inbox_count_queries(ctx, user).items()}


def _paged(by_state: dict[str, int], filters: Filters, page: int) -> tuple[int, int]:
    """The list's total (the per-state counts' sum, or the chosen state's) and the page asked for, within range."""
    total = by_state.get(filters.state, 0) if filters.state else sum(by_state.values())
    pages = max(1, -(-total // PAGE_SIZE))
    return total, min(max(page, 1), pages)


def _page(ctx: Context, user: User, base: Select[tuple[Case]], key: str, label: str, language: str,
          page: int, filters: Filters, text: str = "") -> InboxPage:
    """A page of every case of the node (or of the user's own), computed over the cases: the node's lists."""
    now = ctx.now()
    query = _filtered(ctx, base, filters, now)
    # The per-state counts are the list's counts under every filter but the state one: the total is their sum,
    # or the chosen state's (one statement less over the worklist, the costliest at national scale).
    by_state = _state_counts(ctx, base, filters, now)
    total, page = _paged(by_state, filters, page)
    soonest = (select(func.min(CaseClock.due_at))
               .where(CaseClock.case_id == Case.id, CaseClock.status == RUNNING,
                      CaseClock.clock.in_(deadline_clocks(ctx.definition)))
               .correlate(Case).scalar_subquery())
    cases = ctx.session.scalars(
        query.order_by(soonest.asc().nulls_last(), Case.priority.desc(), Case.created_at.desc(),
                       Case.reference)  # NULLS LAST: the soonest deadline computed once a row, not twice
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return _rows_page(ctx, user, key, label, language, list(cases), set(), by_state, total, page, filters, text)


def _rows_page(ctx: Context, user: User, key: str, label: str, language: str, cases: list[Case],
               acting: set[uuid.UUID], by_state: dict[str, int], total: int, page: int, filters: Filters,
               text: str) -> InboxPage:
    """The page shown: the listed cases' rows (their summaries opened, and no other case's), the state counts."""
    pages = max(1, -(-total // PAGE_SIZE))
    ctx.act_as(user.node_id)
    open_many(ctx, list(cases))  # the 25 rows shown, and no others
    reader = Reader(ctx, language)
    regions = {r.code: r.name for r in ctx.session.scalars(select(Region))}
    nodes = {n.id: n.short_name for n in ctx.session.scalars(
        select(Node).where(Node.id.in_({c.detecting_node_id for c in cases})))}
    clocks = clock_rows(ctx, [case.id for case in cases], language)  # one query for the page's rows
    d = ctx.definition
    rows = tuple(
        CaseRow(
            reference=case.reference, state_label=reader.t(d.main.states[case.state].label),
            region=regions.get(case.region_code, case.region_code),
            detecting_node=nodes.get(case.detecting_node_id, ""), opened_at=reader.local(case.created_at),
            flags=tuple((k, reader.t(d.flags[k].label)) for k, on in (case.flags or {}).items() if on and k in d.flags),
            person=reader.summary_line(case), clocks=clocks.get(case.id, ()), mine=case.id in acting,
        )
        for case in cases
    )
    on_page = len(rows)
    text = " ".join(text.split())[:MAX_FILTER]
    if text:  # in memory, over the rows just decrypted for display: no index of the summary exists
        rows = tuple(row for row in rows if matches((row.reference, row.person), text))
    states = tuple(
        StateCount(state, reader.t(d.main.states[state].label), count, state == filters.state,
                   filters.query(estado=None if state == filters.state else state))
        for state, count in sorted(by_state.items(), key=lambda item: list(d.main.states).index(item[0]))
        if state in d.main.states
    )
    return InboxPage(key=key, label=label, rows=rows, total=total, page=page, pages=pages, filters=filters,
                     states=states, pager_query=filters.query(), text=text, on_page=on_page)


def _state_counts(ctx: Context, base: Select[tuple[Case]], filters: Filters, now: dt.datetime) -> dict[str, int]:
    """Cases per state under every filter but the state one (so each state's count shows)."""
    inner = _filtered(ctx, base, filters, now, with_state=False).with_only_columns(Case.state).subquery()
    return {state: count for state, count in ctx.session.execute(
        select(inner.c.state, func.count()).group_by(inner.c.state))}
