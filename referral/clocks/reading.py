"""What people see of the clocks: deadlines on the inbox and the case page, and their notifications.

Plain view models in the user's language, like `referral/cases/reading.py`; no Flask. Callers decide
who may see what: the inbox passes the case ids of the rows it shows, the case page the case it has
already opened through `open_case`, and the notification functions only ever read or change the
notifications of the user they are given.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy import case as when

from ..auth.models import User
from ..kernel.access import may_open_cases
from ..kernel.errors import CaseNotFound
from ..kernel.models import Case, Participant, live_participant
from ..context import Context
from ..workflow import Text, WorkflowDefinition
from ..workflow.definition import Clock
from ..workflow.subjects import KINDS as NONCASE_KINDS
from .models import RUNNING, STOPPED, CaseClock, Notification
from .service import running_clocks
from .wording import SOON, URGENCY_WORDS, deadline, local, notification_message, span, time_left, urgency

STOPPED_SHOWN = 5  # the case page lists this many of the latest stopped clocks
PAGE_SIZE = 50  # notifications per page
ALL = "all"

LAW = Text("Ley", "Law")
DUE_NOW = Text("Corresponde ahora", "Due now")
ESCALATED = Text("Escalado a {relation} (nivel {level})", "Escalated to {relation} (level {level})")
ESCALATED_LEVEL = Text("Escalado (nivel {level})", "Escalated (level {level})")
MET = Text("Cumplido a tiempo", "Met in time")
LATE = Text("Cumplido con {span} de atraso", "Met {span} late")
CLOSED_IN_TIME = Text("Detenido al cerrarse el caso, dentro del plazo",
                      "Stopped when the case was closed, within the deadline")
CLOSED_LATE = Text("Detenido al cerrarse el caso, {span} después del vencimiento",
                   "Stopped when the case was closed, {span} after the deadline")
ENDED = Text("Terminado", "Ended")


class NotificationNotFound(CaseNotFound):
    """No notification with that id belongs to this user (someone else's reads the same)."""

    message = Text("Esa notificación no existe.", "There is no such notification.")


# -- deadlines --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockRow:
    """One running clock of one case."""

    key: str
    label: str
    due_at: str  # local wall-clock time
    time_left: str  # «Vence en 5 h», «Vencido hace 3 h»
    urgency: str  # overdue | soon | on_time: a CSS class, always shown with `urgency_label`
    urgency_label: str  # «Vencido», «Por vencer», «En plazo»
    escalation: int  # the highest escalation level reached, 0 if none
    escalation_label: str  # «Escalado a Coordinación nacional (nivel 1)», or ""
    basis: str  # «Ley» when the law sets the deadline, else ""


@dataclass(frozen=True)
class StoppedClockRow:
    """One clock of the case that has stopped: met in time, late, or stopped by closing the case."""

    key: str
    label: str
    due_at: str
    stopped_at: str
    outcome: str  # in words
    met: bool | None  # True in time, False late, None when neither applies (closed case, periodic clock)

    @property
    def css(self) -> str:
        return "" if self.met is None else ("met" if self.met else "late")


@dataclass(frozen=True)
class CaseClocks:
    running: tuple[ClockRow, ...]
    stopped: tuple[StoppedClockRow, ...]


def _label(d: WorkflowDefinition, key: str) -> Text:
    clock = d.clocks.get(key)
    return clock.label if clock else Text(key, key)


def _escalation(d: WorkflowDefinition, clock: Clock | None, level: int, language: str) -> str:
    if level <= 0:
        return ""
    if clock is not None and level <= len(clock.escalate):
        relation = d.relation_label(clock.escalate[level - 1][1])
        return ESCALATED.format(relation=relation.get(language), level=level).get(language)
    return ESCALATED_LEVEL.format(level=level).get(language)


def clock_row(ctx: Context, row: CaseClock, language: str, now: dt.datetime) -> ClockRow:
    d = ctx.definition
    clock = d.clocks.get(row.clock)
    if clock is not None and clock.repeats and now >= row.due_at:
        # A periodic prompt is never overdue: its next period starts when the sweep reaches it.
        level, left = SOON, DUE_NOW.get(language)
    else:
        level, left = urgency(row.started_at, row.due_at, now), time_left(row.due_at, now).get(language)
    return ClockRow(
        key=row.clock, label=_label(d, row.clock).get(language), due_at=deadline(row.due_at, ctx.timezone),
        time_left=left, urgency=level, urgency_label=URGENCY_WORDS[level].get(language),
        escalation=row.escalation, escalation_label=_escalation(d, clock, row.escalation, language),
        basis=LAW.get(language) if clock is not None and clock.basis == "law" else "",
    )


def clock_rows(ctx: Context, case_ids: Sequence[uuid.UUID], language: str) -> dict[uuid.UUID, tuple[ClockRow, ...]]:
    """The running clocks of these cases (one query), soonest deadline first. The caller has already
    decided that the user sees these cases (the rows of an inbox page, an opened case)."""
    now = ctx.now()
    return {case_id: tuple(clock_row(ctx, row, language, now) for row in rows)
            for case_id, rows in running_clocks(ctx, list(case_ids)).items()}


def _stopped_row(ctx: Context, row: CaseClock, language: str) -> StoppedClockRow:
    clock = ctx.definition.clocks.get(row.clock)
    stopped = row.stopped_at or row.due_at
    late = span(stopped - row.due_at)
    met: bool | None
    if clock is not None and clock.repeats:
        outcome, met = ENDED.get(language), None
    elif row.stop_reason == "case_closed":  # closing is not doing the task: say when, not «met»
        words = CLOSED_IN_TIME if row.met else CLOSED_LATE
        outcome, met = Text(words.es.format(span=late.es), words.en.format(span=late.en)).get(language), None
    elif row.met:
        outcome, met = MET.get(language), True
    else:
        outcome, met = Text(LATE.es.format(span=late.es), LATE.en.format(span=late.en)).get(language), False
    return StoppedClockRow(key=row.clock, label=_label(ctx.definition, row.clock).get(language),
                           due_at=deadline(row.due_at, ctx.timezone), stopped_at=local(stopped, ctx.timezone),
                           outcome=outcome, met=met)


def case_clocks(ctx: Context, case: Case, language: str) -> CaseClocks:
    """The clocks of one case the caller has opened: every running one, soonest deadline first, and the latest
    stopped ones, newest first; one statement for both (issue 17). The database orders the rows: the running
    ones first by deadline, then the stopped ones exactly as their own `LIMIT` picked them."""
    latest_stopped = (select(CaseClock.id).where(CaseClock.case_id == case.id, CaseClock.status == STOPPED)
                      .order_by(CaseClock.stopped_at.desc(), CaseClock.id.desc()).limit(STOPPED_SHOWN))
    running = CaseClock.status == RUNNING
    rows = list(ctx.session.scalars(
        select(CaseClock).where(CaseClock.case_id == case.id,
                                running | CaseClock.id.in_(latest_stopped.scalar_subquery()))
        .order_by(when((running, 0), else_=1), when((running, CaseClock.due_at)),
                  CaseClock.stopped_at.desc(), CaseClock.id.desc())
    ))
    now = ctx.now()
    return CaseClocks(running=tuple(clock_row(ctx, row, language, now) for row in rows if row.status == RUNNING),
                      stopped=tuple(_stopped_row(ctx, row, language) for row in rows if row.status == STOPPED))


# -- notifications ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationView:
    id: str
    kind: str  # started | reminder | due | periodic | escalation
    level: int
    title: str
    body: str
    created_at: str
    reference: str  # the case, for the link ("" for a subject that is not a case)
    unread: bool
    can_open: bool  # the user's node still holds a live relation to the case
    flags: tuple[tuple[str, str], ...] = ()  # the case's routing flags (child case...), shown as badges
    link: str | None = None  # a subject that is not a case: its page (a Mesa's agreement), if it has one


@dataclass(frozen=True)
class NotificationsPage:
    items: tuple[NotificationView, ...]
    unread: int
    total: int
    page: int
    pages: int
    until: str  # the moment of this page (ISO 8601): «mark all read» marks what existed then, no more


def unread_query(user: User) -> Select[tuple[int]]:
    """The count of the user's unread notifications, as a statement (the navigation runs its counts as one)."""
    return select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))


def unread_count(ctx: Context, user: User) -> int:
    return ctx.session.scalar(unread_query(user)) or 0


def notifications_page(ctx: Context, user: User, language: str, page: int = 1) -> NotificationsPage:
    """This user's notifications, unread first, newest first within each."""
    now = ctx.now()
    mine = Notification.user_id == user.id
    total = ctx.session.scalar(select(func.count()).select_from(Notification).where(mine)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = ctx.session.execute(
        select(Notification, Case.reference, Case.flags, CaseClock.subject_kind, CaseClock.subject)
        .outerjoin(Case, Case.id == Notification.case_id).join(CaseClock, CaseClock.id == Notification.clock_id)
        .where(mine)
        .order_by(when((Notification.read_at.is_(None), 0), else_=1), Notification.created_at.desc(),
                  Notification.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    openable = _openable(ctx, user, {note.case_id for note, *_ in rows if note.case_id is not None})
    d = ctx.definition
    items = []
    for note, reference, flags, subject_kind, subject in rows:
        kind = NONCASE_KINDS.get(subject_kind) if note.case_id is None else None
        about = kind.about(subject) if kind else None
        words = notification_message(d, note.clock, note.kind, note.due_at, note.level, reference or "",
                                     ctx.timezone, about)
        items.append(NotificationView(
            id=str(note.id), kind=note.kind, level=note.level, title=words.title.get(language),
            body=words.body.get(language), created_at=local(note.created_at, ctx.timezone), reference=reference or "",
            unread=note.read_at is None, can_open=note.case_id in openable,
            flags=tuple((k, d.flags[k].label.get(language)) for k, on in (flags or {}).items() if on and k in d.flags),
            link=kind.link(subject) if kind else None,
        ))
    return NotificationsPage(items=tuple(items), unread=unread_count(ctx, user), total=total, page=page,
                             pages=pages, until=now.isoformat())


def _openable(ctx: Context, user: User, case_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these cases the user could open now (one query): a referral may have ended since."""
    if not case_ids or not may_open_cases(ctx, user):
        return set()
    return set(ctx.session.scalars(
        select(Case.id).where(Case.id.in_(case_ids), exists(select(Participant.id).where(
            Participant.case_id == Case.id, Participant.node_id == user.node_id, live_participant(ctx.now()))))
    ))


def mark_read(ctx: Context, user: User, which: uuid.UUID | Literal["all"],
              until: dt.datetime | None = None) -> int:
    """Mark one of the user's notifications read, or all of them (created up to `until`); how many
    changed. Only the user's own are touched, and marking again changes nothing. Someone else's id,
    or an unknown one, raises NotificationNotFound. The caller commits."""
    now = ctx.now()
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if which == ALL:
        if until is not None:
            query = query.where(Notification.created_at <= min(until, now))
    else:
        query = query.where(Notification.id == which)
    changed = ctx.session.execute(query.values(read_at=now).execution_options(synchronize_session=False)).rowcount
    if which != ALL and changed == 0 and ctx.session.scalar(
            select(Notification.id).where(Notification.id == which, Notification.user_id == user.id)) is None:
        raise NotificationNotFound()
    return changed
