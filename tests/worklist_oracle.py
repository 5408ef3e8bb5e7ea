"""The worklists as they were computed before issue 17 stored them: over every case, at request time.

An independent oracle for the rows `referral/cases/worklists.py` keeps: the SQL the worklist pages ran (a node's
live relations through the list's relations, the list's states, tracks and forms; whether the role has a step to
take; the soonest running deadline), kept here verbatim so the stored rows are checked against it, not against
the code that writes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, Select, exists, func, or_, select

from referral.kernel.models import Case, FormRecord, Participant, Track, WorklistEntry, live_participant
from referral.cases.worklists import rebuild
from referral.clocks.models import RUNNING, CaseClock
from referral.context import Context
from referral.network.models import Node
from referral.units import unit_of_work
from referral.workflow.definition import Inbox

Row = tuple[uuid.UUID, bool, str, Any]  # case, mine, state, soonest deadline


def _inbox_query(inbox: Inbox, node_id: int, now: dt.datetime) -> Select[tuple[Case]]:
    mine = select(Participant.id).where(Participant.case_id == Case.id, Participant.node_id == node_id,
                                        live_participant(now), Participant.relation.in_(inbox.relations))
    query = select(Case).where(exists(mine))
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


def _needs_action(ctx: Context, role: str, relations: tuple[str, ...]) -> ColumnElement[bool] | None:
    main: set[str] = set()
    tracks: dict[str, set[str]] = {}
    for machine in ctx.definition.machines():
        for transition in machine.transitions.values():
            if transition.stays or transition.available_when is not None or \
                    not any(p.role == role and p.relation in relations for p in transition.permits):
                continue
            sources = {s for s in transition.sources if s is not None}
            if machine.key:
                tracks.setdefault(machine.key, set()).update(sources)
            else:
                main |= sources
    criteria: list[ColumnElement[bool]] = [Case.state.in_(sorted(main))] if main else []
    criteria += [exists(select(Track.case_id).where(Track.case_id == Case.id, Track.track == track,
                                                    Track.state.in_(sorted(states))))
                 for track, states in tracks.items() if states]
    return or_(*criteria) if criteria else None


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo is None else value


def expected(ctx: Context, inbox: Inbox, node_id: int, role: str) -> set[Row]:
    now = ctx.now()
    deadline = [k for k, c in ctx.definition.clocks.items() if not c.repeats]
    soonest = (select(func.min(CaseClock.due_at)).where(
        CaseClock.case_id == Case.id, CaseClock.status == RUNNING, CaseClock.clock.in_(deadline))
        .correlate(Case).scalar_subquery())
    acting = _needs_action(ctx, role, inbox.relations)
    query = _inbox_query(inbox, node_id, now).with_only_columns(
        Case.id, acting if acting is not None else Case.id.is_(None), Case.state, soonest)
    return {(case_id, bool(mine), state, _utc(due)) for case_id, mine, state, due in ctx.session.execute(query)}


def stored(ctx: Context, inbox: Inbox, node_id: int, role: str) -> set[Row]:
    now = ctx.now()
    E = WorklistEntry
    return {(case_id, mine, state, _utc(due)) for case_id, mine, state, due in ctx.session.execute(
        select(E.case_id, E.mine, E.state, E.due_at).where(
            E.inbox == inbox.key, E.node_id == node_id, E.role == role,
            or_(E.expires_at.is_(None), E.expires_at > now)))}


def differences(app: Flask) -> list[str]:
    """Every (list, node, role) whose stored rows differ from the oracle's, and how; [] when all agree."""
    found = []
    with unit_of_work(app) as ctx:
        nodes = list(ctx.session.scalars(select(Node.id)))
        for inbox in ctx.definition.inboxes.values():
            for node_id in nodes:
                for role in inbox.roles:
                    want, have = expected(ctx, inbox, node_id, role), stored(ctx, inbox, node_id, role)
                    if want != have:
                        found.append(f"{inbox.key} node {node_id} {role}: missing {sorted(map(str, want - have))}, "
                                     f"extra {sorted(map(str, have - want))}")
    return found


def stored_count(app: Flask) -> int:
    with unit_of_work(app) as ctx:
        return ctx.session.scalar(select(func.count()).select_from(WorklistEntry)) or 0


def drift(app: Flask) -> int:
    """How many rows a rebuild would change (nothing is written)."""
    with unit_of_work(app) as ctx:
        changed = rebuild(ctx.session, ctx.definition)
        ctx.session.rollback()
    return changed
