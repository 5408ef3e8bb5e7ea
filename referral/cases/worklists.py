"""The worklists' rows, kept by the steps (issue 17): `worklist_entries`.

A worklist (`inboxes:` in the workflow) is the cases in some states (or with a track or a form in some states)
that a node takes part in through some relations. Computing one at request time joins every case in those states
with every relation of the node and orders them by a per-row clock aggregate: ~100 ms for a regional focal
point at 100,000 cases. So each (worklist, node, role, case) that belongs on a list is a row here, with the
columns the list filters and orders on copied from the case: state, region, priority, creation, reference, the
soonest running deadline and whether the role has a step to take now. A page reads 25 of them in order.

**How the rows stay right.** Every transaction that writes a case, a relation, a track, a form record or a
clock marks that case (session events: `after_flush` sees what the ORM wrote; a bulk statement through the
session names the cases it touches, `execution_options(worklist_cases=...)` or `()` for none, or bounds them in
its WHERE (`case_id = x`, `case_id IN (...)`); one that does neither has every case computed again, with a
warning in the log). Before the commit, the marked cases' rows are
computed again from the database, in the same transaction: a step and its worklist rows commit together or
not at all. What the rows cannot see is time: a relation that lapses keeps its row, with `expires_at`, and the
query skips it; an overdue filter compares `due_at` with the moment of the query.

Writes that bypass sessions (the scale demo's COPY) call `rebuild`; `flask worklists check` and the periodic
task `worklists.reconcile` compare every row with a fresh computation and repair (and count) differences.

Nothing here is personal and nothing here grants access: opening a case still reads its relations.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, delete, event, func, insert, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList
from sqlalchemy.orm import ORMExecuteState, Session

from ..clocks.models import RUNNING, CaseClock
from ..workflow.definition import Inbox, WorkflowDefinition
from ..kernel.models import Case, FormRecord, Participant, Track, WorklistEntry

DEFINITION = "referral.worklists.definition"  # in Session.info: the workflow, as a function (the app sets it)
TOUCHED = "referral.worklists.touched"  # in Session.info: ids of cases whose rows must be computed again
EVERY_CASE = "referral.worklists.every_case"  # a bulk statement whose cases are unknown: compute them all
WATCHED = (Case, Participant, Track, FormRecord, CaseClock)
CHUNK = 500
log = logging.getLogger(__name__)
_KEYS = ("mine", "state", "region_code", "priority", "created_at", "reference", "due_at", "expires_at")


@dataclass(frozen=True)
class Acting:
    """Where a role, through some relations, has a step to take: main states, and states per track."""

    main: frozenset[str]
    tracks: dict[str, frozenset[str]]

    def holds(self, state: str, tracks: dict[str, str]) -> bool:
        return state in self.main or any(tracks.get(t) in states for t, states in self.tracks.items())


def acting(definition: WorkflowDefinition, role: str, relations: Sequence[str]) -> Acting:
    """The states a transition permitted to `role` through `relations` moves a case (or track) out of.
    Side steps (a transition that stays, or is only available when a condition holds) do not count."""
    main: set[str] = set()
    tracks: dict[str, set[str]] = {}
    for machine in definition.machines():
        for transition in machine.transitions.values():
            if transition.stays or transition.available_when is not None or \
                    not any(p.role == role and p.relation in relations for p in transition.permits):
                continue
            sources = {s for s in transition.sources if s is not None}
            if machine.key:
                tracks.setdefault(machine.key, set()).update(sources)
            else:
                main |= sources
    return Acting(frozenset(main), {t: frozenset(s) for t, s in tracks.items() if s})


def deadline_clocks(definition: WorkflowDefinition) -> list[str]:
    """Clocks that can be overdue (a repeating clock is a periodic prompt, never late)."""
    return [key for key, clock in definition.clocks.items() if not clock.repeats and clock.subject is None]


def _on_list(inbox: Inbox, state: str, tracks: dict[str, str], forms: dict[str, set[str]]) -> bool:
    if not (inbox.states or inbox.tracks or inbox.forms):
        return True
    return state in inbox.states or \
        any(tracks.get(track) in states for track, states in inbox.tracks.items()) or \
        any(forms.get(form, set()) & set(statuses) for form, statuses in inbox.forms.items())


def compute(session: Session, definition: WorkflowDefinition, case_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The rows these cases should have on every worklist, from what the database holds now."""
    if not case_ids or not definition.inboxes:
        return []
    ids = list(case_ids)
    cases = session.execute(select(Case.id, Case.state, Case.region_code, Case.priority, Case.created_at,
                                   Case.reference).where(Case.id.in_(ids))).all()
    relations: dict[uuid.UUID, list[tuple[int, str, dt.datetime | None]]] = defaultdict(list)
    for case_id, node_id, relation, expires in session.execute(
            select(Participant.case_id, Participant.node_id, Participant.relation, Participant.expires_at)
            .where(Participant.case_id.in_(ids), Participant.active)):
        relations[case_id].append((node_id, relation, expires))
    tracks: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    for case_id, track, state in session.execute(
            select(Track.case_id, Track.track, Track.state).where(Track.case_id.in_(ids))):
        tracks[case_id][track] = state
    form_keys = sorted({form for inbox in definition.inboxes.values() for form in inbox.forms})
    forms: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if form_keys:
        for case_id, form, status in session.execute(
                select(FormRecord.case_id, FormRecord.form_key, FormRecord.status)
                .where(FormRecord.case_id.in_(ids), FormRecord.current, FormRecord.form_key.in_(form_keys))):
            forms[case_id][form].add(status)
    due: dict[uuid.UUID, dt.datetime] = {case_id: at for case_id, at in session.execute(
        select(CaseClock.case_id, func.min(CaseClock.due_at))
        .where(CaseClock.case_id.in_(ids), CaseClock.status == RUNNING,
               CaseClock.clock.in_(deadline_clocks(definition)))
        .group_by(CaseClock.case_id))}
    who = {(inbox.key, role): acting(definition, role, inbox.relations)
           for inbox in definition.inboxes.values() for role in inbox.roles}
    rows: list[dict[str, Any]] = []
    for case_id, state, region, priority, created, reference in cases:
        for inbox in definition.inboxes.values():
            if not _on_list(inbox, state, tracks[case_id], forms[case_id]):
                continue
            nodes: dict[int, list[dt.datetime | None]] = defaultdict(list)
            for node_id, relation, expires in relations[case_id]:
                if relation in inbox.relations:
                    nodes[node_id].append(expires)
            for node_id, expiries in nodes.items():
                expires_at = None if None in expiries else max(e for e in expiries if e is not None)
                for role in inbox.roles:
                    rows.append({
                        "inbox": inbox.key, "node_id": node_id, "role": role, "case_id": case_id,
                        "mine": who[inbox.key, role].holds(state, tracks[case_id]), "state": state,
                        "region_code": region, "priority": priority, "created_at": created, "reference": reference,
                        "due_at": due.get(case_id), "expires_at": expires_at,
                    })
    return rows


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["inbox"], row["node_id"], row["role"], row["case_id"]


def _comparable(value: Any) -> Any:
    """Datetimes compared in UTC whatever the backend hands back (SQLite gives naive UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def refresh(session: Session, definition: WorkflowDefinition, case_ids: Iterable[uuid.UUID]) -> int:
    """Make these cases' rows what `compute` says; return how many rows were added, changed or removed."""
    changed = 0
    ids = sorted(set(case_ids), key=str)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        wanted = {_key(row): row for row in compute(session, definition, chunk)}
        stored = {(e.inbox, e.node_id, e.role, e.case_id): e for e in session.execute(
            select(WorklistEntry.inbox, WorklistEntry.node_id, WorklistEntry.role, WorklistEntry.case_id,
                   *(getattr(WorklistEntry, k) for k in _KEYS)).where(WorklistEntry.case_id.in_(chunk)))}
        stale = [key for key, entry in stored.items()
                 if key not in wanted or any(_comparable(getattr(entry, k)) != _comparable(wanted[key][k])
                                             for k in _KEYS)]
        missing = [row for key, row in wanted.items() if key not in stored or key in stale]
        for key in stale:
            session.execute(delete(WorklistEntry).where(
                WorklistEntry.inbox == key[0], WorklistEntry.node_id == key[1], WorklistEntry.role == key[2],
                WorklistEntry.case_id == key[3]).execution_options(worklist_cases=()))
        if missing:
            session.execute(insert(WorklistEntry), missing)
        changed += len(stale) + len([row for row in missing if _key(row) not in stored])
    return changed


def rebuild(session: Session, definition: WorkflowDefinition) -> int:
    """Check every case's rows against a fresh computation and repair them; return the rows changed. Rows of
    cases that no longer exist go with their case (ON DELETE CASCADE), and are swept here too."""
    changed = session.execute(delete(WorklistEntry).where(~WorklistEntry.case_id.in_(select(Case.id)))
                              .execution_options(worklist_cases=())).rowcount or 0
    ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    return changed + refresh(session, definition, ids)


# -- keeping them: session events -------------------------------------------------------------------


def mark(session: Session, case_ids: Iterable[uuid.UUID]) -> None:
    """Have these cases' worklist rows computed again before the session commits."""
    session.info.setdefault(TOUCHED, set()).update(case_ids)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    touched: set[uuid.UUID] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Case):
            touched.add(instance.id)
        elif isinstance(instance, WATCHED) and instance.case_id is not None:  # type: ignore[union-attr]
            touched.add(instance.case_id)  # type: ignore[union-attr]  (a clock of no case marks none)
    if touched:
        mark(session, touched)


def _named_cases(statement: Any) -> list[Any] | None:
    """The cases a bulk UPDATE or DELETE can touch, read off its WHERE: `case_id = x`, `case_id IN (...)` (or
    `cases.id`), alone or as one term of an AND. None when the statement does not bound them so."""
    where = getattr(statement, "whereclause", None)
    terms = list(where.clauses) if isinstance(where, BooleanClauseList) and where.operator is operators.and_ \
        else [where]
    for term in terms:
        if not isinstance(term, BinaryExpression) or not isinstance(term.right, BindParameter):
            continue
        column = term.left
        if not isinstance(column, Column) or not (
                column.name == "case_id" or (column.name == "id" and column.table.name == "cases")):
            continue
        value = term.right.effective_value
        if term.operator is operators.eq and value is not None:
            return [value]
        if term.operator is operators.in_op and isinstance(value, (list, tuple)):
            return list(value)
    return None


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> None:
    """A bulk statement through the session: its cases are marked, those it names in `worklist_cases` or bounds
    in its WHERE; when neither says, every case is computed again at commit (right, and slow: the product's own
    bulk statements all say, `tests/test_worklist_entries.py` checks it)."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    mapper = state.bind_mapper
    if mapper is None or mapper.class_ not in WATCHED:
        return
    declared = state.execution_options.get("worklist_cases")
    if declared is None:
        declared = _named_cases(state.statement)
    if declared is None:
        state.session.info[EVERY_CASE] = True
    else:
        mark(state.session, declared)


@event.listens_for(Session, "before_commit", insert=True)  # before the audit log's append (referral/audit/service.py)
def _before_commit(session: Session) -> None:
    session.flush()  # what is still pending is written (and marked) first
    every = session.info.pop(EVERY_CASE, False)
    touched = session.info.pop(TOUCHED, None)
    if not (touched or every):
        return
    definition_of = session.info.get(DEFINITION)
    if definition_of is None:
        raise RuntimeError("a session that writes cases must come from the app's session factory "
                           "(it knows the workflow the worklists are computed from)")
    if every:
        changed = rebuild(session, definition_of())
        log.warning("worklists: a bulk write named no cases; every case computed again (%d rows changed)", changed)
    else:
        refresh(session, definition_of(), touched)
    session.flush()


# No rollback handler: marked cases stay marked. Computing a case's rows again from what the database holds is
# always right, and a savepoint's rollback must not make the outer transaction forget its writes.
