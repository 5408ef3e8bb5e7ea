"""Clocks whose subject is not a case: the service API (docs/clocks.md, «Clocks of subjects that are not cases»).

A Mesa's agreement, a meta of the Plan de Acción or its semester report has a deadline that runs on the same
rows, sweep, reminders, escalations and notifications as a case's (`case_clocks` with `case_id` NULL, the
subject's kind and id). The service that owns the subject starts and stops it in its own transaction:

    start_subject_clock(ctx, "meta_plan_accion", "meta_plan", str(action.id), action.due_on,
                        node_ids=[action.node_id], escalate_node_ids=[secretaria_node_id])
    stop_subject_clock(ctx, "meta_plan_accion", "meta_plan", str(action.id))   # met (or late)

The clock's steps tell the active staff, of a role that reads that kind of subject, at `node_ids` (party
`institucion_responsable`) and, on escalation, at `escalate_node_ids` (`institucion_que_coordina`): never
through a case's relations. Nothing personal: ids, a clock key, moments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select

from ..context import Context
from ..workflow.clocks import STOP_EVENT, deadline_given
from ..workflow.subjects import COORDINATING, RESPONSIBLE
from .models import RUNNING, STOPPED, CaseClock
from .service import calendar_of, start_clock

REPLACED = "replaced"  # stop_reason of a period ended because its subject was given a new date or new nodes


def start_subject_clock(ctx: Context, clock_key: str, subject_kind: str, subject_id: str,
                        due: dt.date | dt.datetime | None, node_ids: Iterable[int],
                        escalate_node_ids: Iterable[int] = ()) -> CaseClock:
    """Start (same transaction as the caller's step) the clock `clock_key` of one subject that is not a case.

    `due`: a date (the deadline is the end of that day, local time), an aware moment, or None for a clock that
    declares a `duration`. A running period of the same clock and subject is kept when nothing changed, else
    ended (`replaced`) and a new one started. A date already past starts it too: its overdue notice goes at once.
    Raises KeyError for an unknown clock and ValueError for a clock that is not of `subject_kind`."""
    clock = ctx.definition.clocks[clock_key]
    if clock.subject != subject_kind:
        raise ValueError(f"clock {clock_key!r} is not a clock of subjects of kind {subject_kind!r}")
    calendar = calendar_of(ctx)
    deadline = deadline_given(clock, {"due_on": due}, calendar) if clock.deadline_from else None
    if clock.deadline_from is not None and deadline is None:
        raise ValueError(f"clock {clock_key!r} needs a date or an aware moment as its deadline")
    parties = {RESPONSIBLE: sorted(set(node_ids)), COORDINATING: sorted(set(escalate_node_ids))}
    running = _running(ctx, clock_key, subject_kind, [subject_id]).get(subject_id)
    period = 1
    if running is not None:
        if running.parties == parties and (deadline is None or running.due_at == deadline):
            return running
        _stop(ctx, running, REPLACED)
        ctx.session.flush()  # the old period leaves "running" before the new one is added
        period = running.period + 1
    row = start_clock(ctx, None, clock, ctx.now(), calendar, period=period, deadline=deadline, subject=subject_id)
    row.subject_kind, row.parties = subject_kind, parties
    ctx.session.flush()
    return row


def stop_subject_clock(ctx: Context, clock_key: str, subject_kind: str, subject_id: str) -> bool:
    """Stop the running clock of a subject (its task is done: met in time, or late); False if none ran."""
    row = _running(ctx, clock_key, subject_kind, [subject_id]).get(subject_id)
    if row is None:
        return False
    _stop(ctx, row, STOP_EVENT)
    return True


def subject_clocks(ctx: Context, clock_key: str, subject_kind: str,
                   subject_ids: Sequence[str]) -> dict[str, CaseClock]:
    """The latest period of this clock for each subject (running or not), for the subjects' pages (one query)."""
    found: dict[str, CaseClock] = {}
    if not subject_ids:
        return found
    for row in ctx.session.scalars(select(CaseClock).where(
            CaseClock.case_id.is_(None), CaseClock.subject_kind == subject_kind, CaseClock.clock == clock_key,
            CaseClock.subject.in_(list(subject_ids))).order_by(CaseClock.period, CaseClock.id)):
        found[row.subject] = row
    return found


def _running(ctx: Context, clock_key: str, subject_kind: str, subject_ids: list[str]) -> dict[str, CaseClock]:
    return {row.subject: row for row in ctx.session.scalars(select(CaseClock).where(
        CaseClock.case_id.is_(None), CaseClock.subject_kind == subject_kind, CaseClock.clock == clock_key,
        CaseClock.subject.in_(subject_ids), CaseClock.status == RUNNING).with_for_update())}


def _stop(ctx: Context, row: CaseClock, reason: str) -> None:
    row.status, row.stopped_at, row.stop_reason, row.next_at = STOPPED, ctx.now(), reason, None
