"""Worklists: the cases a user's node must act on, most urgent and newest first.

The query selects and orders on clear routing columns only; the sealed summary is opened for the
rows of the page shown and no others.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, exists, func, or_, select

from ..auth.models import User
from ..clocks.reading import ClockRow, clock_rows
from ..context import Context
from ..keys.store import open_many
from ..network.models import Node, Region
from ..workflow import Text
from ..workflow.definition import Inbox
from .access import may_open_cases
from .models import Case, FormRecord, Participant, Track
from .reading import Reader

PAGE_SIZE = 25
MY_CASES = Text("Casos de mi nodo", "My node's cases")


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


@dataclass(frozen=True)
class InboxPage:
    key: str
    label: str
    rows: tuple[CaseRow, ...]
    total: int
    page: int
    pages: int


def inboxes_for(ctx: Context, user: User) -> list[Inbox]:
    if not may_open_cases(ctx, user):
        return []
    return [inbox for inbox in ctx.definition.inboxes.values() if user.role in inbox.roles]


def _my_cases(user: User, relations: tuple[str, ...] | None) -> Select[tuple[Case]]:
    mine = select(Participant.id).where(
        Participant.case_id == Case.id, Participant.node_id == user.node_id, Participant.active
    )
    if relations is not None:
        mine = mine.where(Participant.relation.in_(relations))
    return select(Case).where(exists(mine))


def _inbox_query(inbox: Inbox, user: User) -> Select[tuple[Case]]:
    query = _my_cases(user, inbox.relations)
    criteria = []
    if inbox.states:
        criteria.append(Case.state.in_(inbox.states))
    for track, states in inbox.tracks.items():
        criteria.append(exists(select(Track.case_id).where(
            Track.case_id == Case.id, Track.track == track, Track.state.in_(states))))
    for form, statuses in inbox.forms.items():
        criteria.append(exists(select(FormRecord.id).where(
            FormRecord.case_id == Case.id, FormRecord.form_key == form, FormRecord.current,
            FormRecord.status.in_(statuses))))
    return query.where(or_(*criteria)) if criteria else query


def inbox_page(ctx: Context, user: User, key: str, language: str, page: int = 1) -> InboxPage | None:
    """One page of a worklist, or None if this user has no such worklist."""
    inbox = next((i for i in inboxes_for(ctx, user) if i.key == key), None)
    if inbox is None:
        return None
    return _page(ctx, user, _inbox_query(inbox, user), key, inbox.label.get(language), language, page)


def my_cases_page(ctx: Context, user: User, language: str, page: int = 1, state: str | None = None) -> InboxPage:
    """Every case the user's node holds a live relation to, optionally in one state."""
    query = _my_cases(user, None)
    if state:
        query = query.where(Case.state == state)
    return _page(ctx, user, query, "mis_casos", MY_CASES.get(language), language, page)


def inbox_counts(ctx: Context, user: User) -> dict[str, int]:
    return {
        inbox.key: ctx.session.scalar(select(func.count()).select_from(_inbox_query(inbox, user).subquery())) or 0
        for inbox in inboxes_for(ctx, user)
    }


def _page(ctx: Context, user: User, query: Select[tuple[Case]], key: str, label: str, language: str,
          page: int) -> InboxPage:
    total = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    cases = ctx.session.scalars(
        query.order_by(Case.priority.desc(), Case.created_at.desc(), Case.reference)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
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
            person=reader.summary_line(case), clocks=clocks.get(case.id, ()),
        )
        for case in cases
    )
    return InboxPage(key=key, label=label, rows=rows, total=total, page=page, pages=pages)
