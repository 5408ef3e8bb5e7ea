"""Clocks in the database: started and stopped by case events, swept when due, run idempotently.

The database is the truth and Celery only does the work (docs/clocks.md):

- `on_occurrence` runs inside the transaction of the case step that caused it, so a clock exists
  exactly when the step that started it was committed.
- `sweep` finds every running clock whose next step has come and whose lease has lapsed, and marks
  it handed out; the caller sends the ids to workers. A message lost in the broker (worker killed,
  Redis flushed) is handed out again by a later sweep once the lease lapses.
- `run_clocks` handles the steps that have come, in order. Each clock's progress is claimed with a
  compare-and-swap on (period, step) before any notification is written, and notifications are
  unique per (clock, period, step, user): running it twice, or in two workers at once, notifies once.
"""

from __future__ import annotations

import dataclasses
import logging
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, func, or_, select, update

from ..auth.models import User
from ..kernel.models import Case, CaseAssignment, CaseEvent, Participant, live_participant
from ..context import Context
from ..kernel.keystore import NoKeyAccess
from ..kernel.meeting_models import CaseAgreement, CaseMeeting
from ..kernel.records import facts_for
from ..kernel.referral_models import Referral
from ..network.models import Node
from ..workflow.calendar import WorkingCalendar
from ..workflow.clocks import (
    CASE_CLOSED, DUE, ESCALATION, PERIODIC, REMINDER, STARTED, STOP_EVENT, Occurrence, Step, deadline_given, due_time,
    of_subject, reactions, restarted_by_note, schedule,
)
from ..workflow.meetings import ALL_PARTIES as SUBJECT_PARTIES
from ..workflow.meetings import CONVENER, INVITEE, RESPONSIBLE
from ..workflow.network import PARTIES as REFERRAL_ENDS
from ..workflow.network import RECEIVER, SENDER
from ..workflow.definition import Clock
from ..workflow.subjects import KINDS as NONCASE_KINDS
from .models import FINISHED, RUNNING, STOPPED, CaseClock, Notification

log = logging.getLogger(__name__)

REFERRAL_PARTIES = REFERRAL_ENDS | SUBJECT_PARTIES  # the parties of one referral, meeting or agreement

CHUNK = 500  # rows per statement when handing out or updating many clocks


def calendar_of(ctx: Context) -> WorkingCalendar:
    c = ctx.definition.calendar
    return WorkingCalendar(ctx.timezone, c.country, c.subdivision)


# -- started and stopped by the case's own steps ----------------------------------------------------

def on_occurrence(ctx: Context, case: Case, occurrence: Occurrence) -> None:
    """Stop and start the case's clocks for one step of the case (same transaction as the step).

    A step of one referral touches only the clocks of that referral (`subject`); closing the case
    stops every clock, the referrals' included."""
    r = reactions(ctx.definition, occurrence)
    now = ctx.now()
    rows = list(ctx.session.scalars(
        select(CaseClock).where(CaseClock.case_id == case.id, CaseClock.status == RUNNING)))
    running = {c.clock: c for c in rows if c.subject == occurrence.subject}
    for key, reason in r.stops.items():
        hit = [c for c in rows if c.clock == key and (reason == CASE_CLOSED or c.subject == occurrence.subject)]
        for row in hit:
            row.status, row.stopped_at, row.stop_reason, row.next_at = STOPPED, now, reason, None
            if row.subject == occurrence.subject:
                running.pop(key, None)
    ctx.session.flush()  # a clock stopped and restarted by one step must leave "running" first
    if ctx.definition.main.states[case.state].closed:
        return  # a closed case runs no clocks, whatever a track does meanwhile
    calendar = calendar_of(ctx)
    facts = None
    for key in r.starts:
        if key in running:  # already running (re-entered the same state): keep its deadline
            continue
        clock = ctx.definition.clocks[key]
        if clock.when is not None:
            if facts is None:
                try:
                    facts = facts_for(ctx, case)
                except NoKeyAccess:  # a rebuild by an operator whose nodes lost the case: leave it unknown
                    log.warning("clock %s of a case not started: its condition cannot be read", key)
                    continue
            if clock.when.evaluate(facts, None) is not True:
                continue
        deadline = deadline_given(clock, occurrence.inputs, calendar)
        if clock.deadline_from is not None and (deadline is None or deadline <= now):
            continue  # no date typed, or already past: nothing left to remind of
        running[key] = start_clock(ctx, case.id, clock, now, calendar, deadline=deadline,
                                   subject=occurrence.subject if of_subject(clock) else "")


def on_note(ctx: Context, case: Case, note_type: str, relations: frozenset[str]) -> list[str]:
    """A note was recorded (same transaction): each running clock it restarts ends met (or late) and a
    new period starts now. A clock that is not running (the case is not in its state) is left alone.
    Returns the keys of the clocks restarted."""
    keys = restarted_by_note(ctx.definition, note_type, relations)
    if not keys:
        return []
    now = ctx.now()
    rows = list(ctx.session.scalars(select(CaseClock).where(
        CaseClock.case_id == case.id, CaseClock.status == RUNNING, CaseClock.subject == "",
        CaseClock.clock.in_(keys))))
    for row in rows:
        row.status, row.stopped_at, row.stop_reason, row.next_at = STOPPED, now, STOP_EVENT, None
    ctx.session.flush()  # the stopped period leaves "running" before the next one is added
    calendar = calendar_of(ctx)
    for row in rows:
        start_clock(ctx, case.id, ctx.definition.clocks[row.clock], now, calendar, period=row.period + 1)
    return [row.clock for row in rows]


def start_clock(ctx: Context, case_id: uuid.UUID | None, clock: Clock, at: dt.datetime, calendar: WorkingCalendar,
                period: int = 1, deadline: dt.datetime | None = None, subject: str = "") -> CaseClock:
    steps = schedule(clock, at, calendar, deadline)
    row = CaseClock(case_id=case_id, clock=clock.key, subject=subject, period=period, status=RUNNING, started_at=at,
                    due_at=due_time(clock, at, calendar, deadline), next_at=steps[0].at, step=0, escalation=0)
    ctx.session.add(row)
    return row


def running_clocks(ctx: Context, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[CaseClock]]:
    """The running clocks of each case, soonest deadline first (for inboxes and the case page)."""
    found: dict[uuid.UUID, list[CaseClock]] = defaultdict(list)
    for start in range(0, len(case_ids), CHUNK):
        for row in ctx.session.scalars(
            select(CaseClock).where(CaseClock.case_id.in_(case_ids[start:start + CHUNK]),
                                    CaseClock.status == RUNNING).order_by(CaseClock.due_at)
        ):
            found[row.case_id].append(row)
    return found


# -- the sweep ----------------------------------------------------------------------------------------

def sweep(ctx: Context, now: dt.datetime, lease: dt.timedelta, limit: int | None = None) -> list[int]:
    """Ids of clocks whose next step has come and that no live task holds, soonest first; marks them
    handed out at `now`. The caller commits, then sends the ids to workers."""
    query = (select(CaseClock.id)
             .where(CaseClock.next_at <= now,
                    or_(CaseClock.enqueued_at.is_(None), CaseClock.enqueued_at < now - lease))
             .order_by(CaseClock.next_at, CaseClock.id))
    candidates = list(ctx.session.scalars(query.limit(limit) if limit else query))
    claimed: set[int] = set()
    for start in range(0, len(candidates), CHUNK):
        # The claim re-checks the lease, so of two sweeps at once each clock goes to one of them.
        claimed.update(ctx.session.scalars(
            update(CaseClock)
            .where(CaseClock.id.in_(candidates[start:start + CHUNK]),
                   or_(CaseClock.enqueued_at.is_(None), CaseClock.enqueued_at < now - lease))
            .values(enqueued_at=now).returning(CaseClock.id)
            .execution_options(synchronize_session=False, worklist_cases=())))  # a lease: no worklist column
    return [i for i in candidates if i in claimed]


def sweep_emails(ctx: Context, now: dt.datetime, lease: dt.timedelta) -> list[uuid.UUID]:
    """Notifications whose e-mail is still owed, neither waiting in the mail queue nor being sent by a
    live task, oldest first; marks them handed out at `now` (as `sweep` does clocks), so a sweep does
    not queue them again while the mail worker is busy. The caller commits, then sends the ids.

    An e-mail whose task died (or whose message the broker lost) is handed out again once the lease
    lapses; `mail.deliver` still claims each one before its SMTP conversation, so it is sent once."""
    lapsed = now - lease
    candidates = list(ctx.session.scalars(
        select(Notification.id).where(
            Notification.email_pending,
            or_(Notification.email_enqueued_at.is_(None), Notification.email_enqueued_at < lapsed),
            or_(Notification.email_claimed_at.is_(None), Notification.email_claimed_at < lapsed),
        ).order_by(Notification.created_at, Notification.id)
    ))
    claimed: set[uuid.UUID] = set()
    for start in range(0, len(candidates), CHUNK):
        # The claim re-checks the lease, so of two sweeps at once each e-mail goes to one of them.
        claimed.update(ctx.session.scalars(
            update(Notification)
            .where(Notification.id.in_(candidates[start:start + CHUNK]), Notification.email_pending,
                   or_(Notification.email_enqueued_at.is_(None), Notification.email_enqueued_at < lapsed))
            .values(email_enqueued_at=now).returning(Notification.id).execution_options(synchronize_session=False)))
    return [i for i in candidates if i in claimed]


def emails_handed_out(ctx: Context, note_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
    """Mark these new notifications' e-mails handed out at `now`: the run that wrote them queues them
    itself, so the next sweep leaves them alone until the lease lapses. The caller commits."""
    for start in range(0, len(note_ids), CHUNK):
        ctx.session.execute(update(Notification).where(Notification.id.in_(note_ids[start:start + CHUNK]))
                            .values(email_enqueued_at=now).execution_options(synchronize_session=False))


# -- running the steps ----------------------------------------------------------------------------------

@dataclasses.dataclass
class _Progress:
    """What one run does to one clock: the row's new values and the notifications it owes."""

    values: dict[str, object]
    told: list[tuple[int, int, Step, dt.datetime]]  # (period, step index, step, that period's deadline)


def run_clocks(ctx: Context, clock_ids: Iterable[int], now: dt.datetime, email: bool) -> list[uuid.UUID]:
    """Handle every step that has come for these clocks; return the new notifications' ids.

    Safe to run twice or concurrently: a clock whose (period, step) moved since it was read is left to
    whoever moved it. The caller commits.
    """
    rows = list(ctx.session.scalars(
        select(CaseClock).where(CaseClock.id.in_(list(clock_ids)), CaseClock.status == RUNNING,
                                CaseClock.next_at <= now).order_by(CaseClock.next_at, CaseClock.id)
    ))
    if not rows:
        return []
    calendar = calendar_of(ctx)
    claimed: list[tuple[CaseClock, _Progress]] = []
    for row in rows:
        progress = _advance(ctx, row, now, calendar)
        won = ctx.session.execute(
            update(CaseClock)
            .where(CaseClock.id == row.id, CaseClock.period == row.period, CaseClock.step == row.step,
                   CaseClock.status == RUNNING)
            .values(**progress.values)
            .execution_options(synchronize_session=False,  # a clock that ends or moves its deadline: the case's rows
                               worklist_cases=[row.case_id] if row.case_id is not None and
                               {"status", "due_at"} & progress.values.keys() else ())
        ).rowcount
        if won == 1:
            claimed.append((row, progress))
    created = _notify(ctx, claimed, email)
    for row, _ in claimed:
        ctx.session.expire(row)
    return created


def _advance(ctx: Context, row: CaseClock, now: dt.datetime, calendar: WorkingCalendar) -> _Progress:
    """Walk the clock forward to `now`: steps in order, and new periods of a repeating clock."""
    clock = ctx.definition.clocks.get(row.clock)
    if clock is None:  # the definition no longer declares this clock: it ends quietly
        return _Progress({"status": FINISHED, "next_at": None, "enqueued_at": None}, [])
    period, started, step = row.period, row.started_at, row.step
    breached, escalation = row.breached_at, row.escalation
    told: list[tuple[int, int, Step, dt.datetime]] = []
    typed = row.due_at if clock.deadline_from is not None else None  # a typed deadline never moves
    while True:
        steps = schedule(clock, started, calendar, typed)
        due = next(s.at for s in steps if s.kind in (DUE, PERIODIC))  # this period's deadline
        while step < len(steps) and steps[step].at <= now:
            current = steps[step]
            # An advance reminder, or the notice that a new deadline started, is moot once that deadline
            # has also passed (the beat was down, a catch-up): the overdue notice that follows says
            # more, so only that one is sent.
            if not (current.kind in (REMINDER, STARTED) and due <= now):
                told.append((period, step, current, due))
            if current.kind == DUE:
                breached = current.at
            elif current.kind == ESCALATION:
                escalation = max(escalation, current.level)
            step += 1
        if step < len(steps):
            next_at: dt.datetime | None = steps[step].at
            status = RUNNING
            break
        if clock.repeats:  # the period ended: the next one starts at its deadline
            if due_time(clock, due, calendar, typed) <= now:
                # the next period has ended too (beat was down, or a rebuilt history): only the
                # latest prompt is worth sending
                told = [entry for entry in told if entry[0] != period]
            period, started, step = period + 1, due, 0
            continue
        # Nothing left to send. A clock with a stop event (or a subject's, which its service stops) stays running,
        # and overdue, until it stops.
        next_at, status = None, RUNNING if clock.stops_on or clock.subject is not None else FINISHED
        break
    values: dict[str, object] = {
        "period": period, "started_at": started, "step": step, "next_at": next_at, "status": status,
        "due_at": due_time(clock, started, calendar, typed), "breached_at": breached, "escalation": escalation,
        "enqueued_at": None,
    }
    return _Progress(values, told)


def _notify(ctx: Context, claimed: list[tuple[CaseClock, _Progress]], email: bool) -> list[uuid.UUID]:
    """The notifications the steps owe: to case relations and parties, or, for a subject that is not a case,
    to the nodes its service named (referral/clocks/subjects.py)."""
    subjects = [(row, p) for row, p in claimed if row.case_id is None]
    created = notify_subject_parties(ctx, subjects, email) if subjects else []
    return created + _notify_case_parties(ctx, [(row, p) for row, p in claimed if row.case_id is not None], email)


def _notify_case_parties(ctx: Context, claimed: list[tuple[CaseClock, _Progress]], email: bool) -> list[uuid.UUID]:
    if not claimed:
        return []
    wanted = {(row.case_id, relation) for row, p in claimed for _, _, s, _ in p.told for relation in s.relations
              if relation not in REFERRAL_PARTIES}
    people = recipients(ctx, wanted)
    parties = party_recipients(ctx, {row.subject for row, _ in claimed if row.subject})
    responsible = responsible_people(ctx, {row.case_id for row, _ in claimed})
    created: list[uuid.UUID] = []
    for row, progress in claimed:
        for period, index, step, due in progress.told:
            users = {u.id: u for relation in step.relations for u in (
                parties.get((row.subject, relation), []) if relation in REFERRAL_PARTIES
                else people.get((row.case_id, relation), []))}
            users = {u.id: u for u in responsible_first(users, responsible.get(row.case_id, {}), step.kind)}
            if not users:
                offices = contact_nodes(ctx, row, step.relations) if email else []
                for node in offices:  # a node without staff accounts is reached at its institutional address
                    note = Notification(id=uuid.uuid4(), node_id=node.id, case_id=row.case_id, clock_id=row.id,
                                        clock=row.clock, period=period, step=index, kind=step.kind, level=step.level,
                                        due_at=due, created_at=ctx.now(), email_pending=True)
                    ctx.session.add(note)
                    created.append(note.id)
                if not offices:  # a step nobody receives must at least reach the operators
                    log.warning("clock %s (%s) %s: no active staff hold %s in the case", row.id, row.clock,
                                step.kind, "/".join(step.relations))
            for user in users.values():
                # created_at is the moment of writing (not the sweep's `now`), so a backlog handled
                # in deadline order reads in that order
                note = Notification(id=uuid.uuid4(), user_id=user.id, case_id=row.case_id, clock_id=row.id,
                                    clock=row.clock, period=period, step=index, kind=step.kind, level=step.level,
                                    due_at=due, created_at=ctx.now(), email_pending=email)
                ctx.session.add(note)
                created.append(note.id)
    ctx.session.flush()
    return created


# [producto] issue 16: a prompt (a step has started, a reminder, a periodic follow-up) goes to the person
# responsible for the case at a node alone; the deadline and escalations go to her first, then to the rest
# of her node. A node with no responsible person (or whose responsible person may no longer open cases) is
# told as a whole, as before.
PROMPTS = (STARTED, REMINDER, PERIODIC)


def responsible_people(ctx: Context, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[int, int]]:
    """case -> node -> the user id of the person responsible for the case at that node."""
    found: dict[uuid.UUID, dict[int, int]] = defaultdict(dict)
    ids = sorted(case_ids)
    for start in range(0, len(ids), CHUNK):
        for case_id, node_id, user_id in ctx.session.execute(
                select(CaseAssignment.case_id, CaseAssignment.node_id, CaseAssignment.user_id).where(
                    CaseAssignment.case_id.in_(ids[start:start + CHUNK]), CaseAssignment.ended_at.is_(None))):
            found[case_id][node_id] = user_id
    return found


def responsible_first(users: dict[int, User], responsible: dict[int, int], kind: str) -> list[User]:
    """The recipients of one step, the responsible person of each node first; a prompt skips the rest of a
    node that has one. `users` are already the active staff who may open the case."""
    holders = {node_id: user_id for node_id, user_id in responsible.items()
               if user_id in users and users[user_id].node_id == node_id}
    first = [users[user_id] for user_id in holders.values()]
    if kind in PROMPTS:
        rest = [u for u in users.values() if u.node_id not in holders]
    else:
        rest = [u for u in users.values() if u.id not in set(holders.values())]
    return first + rest


def contact_nodes(ctx: Context, row: CaseClock, relations: Sequence[str]) -> list[Node]:
    """Active nodes with an institutional contact address that hold these relations to the case (or
    are the receiving / sending end of the clock's referral); only asked when no staff member is."""
    wanted: set[int] = set(ctx.session.scalars(select(Participant.node_id).where(
        Participant.case_id == row.case_id, Participant.relation.in_([r for r in relations if r not in REFERRAL_PARTIES]),
        live_participant(ctx.now()))))
    if row.subject:
        wanted |= {node_id for (_, party), node_ids in party_nodes(ctx, {row.subject}).items() if party in relations
                   for node_id in node_ids}
    if not wanted:
        return []
    return list(ctx.session.scalars(select(Node).where(Node.id.in_(sorted(wanted)), Node.active,
                                                       Node.contact_email.is_not(None), Node.contact_email != "")))


def party_nodes(ctx: Context, subjects: set[str]) -> dict[tuple[str, str], tuple[int, ...]]:
    """The nodes of each subject's parties: a referral's receiving (receptor, only while the referral is
    live: an ended referral's receiver has no access left and is told nothing) and sending (emisor) node;
    a meeting's convener and invited nodes; an agreement's responsible node and its meeting's convener."""
    ids = [uuid.UUID(s) for s in subjects if _is_uuid(s)]
    if not ids:
        return {}
    live = ctx.definition.network.referrals.live_states() if ctx.definition.network.referrals else ()
    found: dict[tuple[str, str], tuple[int, ...]] = {}
    for referral in ctx.session.scalars(select(Referral).where(Referral.id.in_(ids))):
        if referral.state in live:
            found[(str(referral.id), RECEIVER)] = (referral.to_node_id,)
        found[(str(referral.id), SENDER)] = (referral.from_node_id,)
    meetings = list(ctx.session.scalars(select(CaseMeeting).where(CaseMeeting.id.in_(ids))))
    agreements: list[tuple[CaseAgreement, int]] = [(row[0], row[1]) for row in ctx.session.execute(
        select(CaseAgreement, CaseMeeting.convener_node_id).join(CaseMeeting, CaseMeeting.id == CaseAgreement.meeting_id)
        .where(CaseAgreement.id.in_(ids)))]
    # a meeting's or an agreement's parties are told only while their node still takes part in the case
    taking_part = _live_nodes(ctx, {m.case_id for m in meetings} | {a.case_id for a, _ in agreements})

    def live(case_id: uuid.UUID, node_ids: Sequence[int]) -> tuple[int, ...]:
        return tuple(n for n in node_ids if n in taking_part.get(case_id, ()))

    for meeting in meetings:
        found[(str(meeting.id), CONVENER)] = live(meeting.case_id, (meeting.convener_node_id,))
        found[(str(meeting.id), INVITEE)] = live(meeting.case_id, meeting.invited)
    for agreement, convener in agreements:
        found[(str(agreement.id), RESPONSIBLE)] = live(agreement.case_id, (agreement.responsible_node_id,))
        found[(str(agreement.id), CONVENER)] = live(agreement.case_id, (convener,))
    return found


def _live_nodes(ctx: Context, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    """The nodes holding a live relation to each case."""
    found: dict[uuid.UUID, set[int]] = defaultdict(set)
    if case_ids:
        for case_id, node_id in ctx.session.execute(select(Participant.case_id, Participant.node_id).where(
                Participant.case_id.in_(case_ids), live_participant(ctx.now()))):
            found[case_id].add(node_id)
    return found


def party_recipients(ctx: Context, subjects: set[str]) -> dict[tuple[str, str], list[User]]:
    """Active staff who may open cases at each party's nodes (`party_nodes`)."""
    roles = ctx.definition.roles_with("case_access")
    parties = party_nodes(ctx, subjects)
    every_node = sorted({node_id for node_ids in parties.values() for node_id in node_ids})
    by_node: dict[int, list[User]] = defaultdict(list)
    for start in range(0, len(every_node), CHUNK):  # one query for every party (issue 17), not one each
        for person in ctx.session.scalars(select(User).where(
                User.node_id.in_(every_node[start:start + CHUNK]), User.active, User.role.in_(roles))):
            by_node[person.node_id].append(person)
    return {key: sorted((person for node_id in set(node_ids) for person in by_node.get(node_id, ())),
                        key=lambda person: person.id)
            for key, node_ids in parties.items()}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def recipients(ctx: Context, wanted: set[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], list[User]]:
    """Active staff who may open cases, at each node holding the relation to the case."""
    if not wanted:
        return {}
    roles = ctx.definition.roles_with("case_access")
    case_ids = sorted({case_id for case_id, _ in wanted})
    relations = sorted({relation for _, relation in wanted})
    found: dict[tuple[uuid.UUID, str], list[User]] = defaultdict(list)
    for start in range(0, len(case_ids), CHUNK):
        rows = ctx.session.execute(
            select(Participant.case_id, Participant.relation, User)
            .join(User, and_(User.node_id == Participant.node_id, User.active, User.role.in_(roles)))
            .where(Participant.case_id.in_(case_ids[start:start + CHUNK]), Participant.relation.in_(relations),
                   live_participant(ctx.now()))
            .order_by(User.id)
        )
        for case_id, relation, user in rows:
            if (case_id, relation) in wanted:
                found[(case_id, relation)].append(user)
    return found


# -- rebuilding clocks for cases that predate them ------------------------------------------------------

def rebuild(ctx: Context, case: Case) -> int:
    """Replay a case's timeline through the clock rules, at the moments the steps happened, to
    create the clock rows of a case that has none (a database from before clocks existed). Returns
    the number of rows created; a case that already has clocks is left alone."""
    if ctx.session.scalar(select(CaseClock.id).where(CaseClock.case_id == case.id).limit(1)) is not None:
        return 0
    clock = ctx.clock
    holder = ctx.session.scalar(select(Participant.node_id).where(Participant.case_id == case.id, Participant.active)
                                .order_by(Participant.id).limit(1))
    if holder is not None:  # conditions of clocks may read the case's forms: open them as a node that can
        ctx.act_as(holder)
    try:
        for event in ctx.session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)):
            ctx.clock = (lambda at: lambda: at)(event.occurred_at)
            org_type = event.actor_node.org_type if event.actor_node else None
            if event.kind == "intake":
                on_occurrence(ctx, case, Occurrence("", None, event.to_state, actor_org_type=org_type))
            elif event.kind == "transition":
                try:
                    transition = ctx.definition.transition(event.action)
                except KeyError:  # a transition the definition no longer has
                    continue
                # the step's typed values are sealed and not replayed: clocks whose deadline is a
                # typed date are not rebuilt
                on_occurrence(ctx, case, Occurrence.of_transition(transition, event.from_state, event.to_state or "",
                                                                  org_type))
    finally:
        ctx.clock = clock
    ctx.session.flush()
    return int(ctx.session.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.case_id == case.id))
               or 0)


# -- clocks whose subject is not a case (referral/clocks/subjects.py starts and stops them) -------------------

def notify_subject_parties(ctx: Context, claimed: list[tuple[CaseClock, _Progress]], email: bool) -> list[uuid.UUID]:
    """Notifications of subject clocks: the active staff, of a role that reads that kind of subject, at the nodes
    the clock's service named for each party (`CaseClock.parties`); a node with none, at its contact address."""
    kinds = NONCASE_KINDS
    nodes = sorted({n for row, _ in claimed for ids in (row.parties or {}).values() for n in ids})
    staff: dict[int, list[User]] = defaultdict(list)
    for start in range(0, len(nodes), CHUNK):
        for person in ctx.session.scalars(select(User).where(
                User.node_id.in_(nodes[start:start + CHUNK]), User.active).order_by(User.id)):
            staff[person.node_id].append(person)
    created: list[uuid.UUID] = []
    for row, progress in claimed:
        kind = kinds.get(row.subject_kind)
        roles = {r for capability in (kind.readers if kind else ()) for r in ctx.definition.roles_with(capability)}
        for period, index, step, due in progress.told:
            told = sorted({n for relation in step.relations for n in (row.parties or {}).get(relation, ())})
            users = [u for n in told for u in staff.get(n, ()) if u.role in roles]
            offices = [] if users or not email else list(ctx.session.scalars(select(Node).where(
                Node.id.in_(told), Node.active, Node.contact_email.is_not(None), Node.contact_email != "")))
            if not users and not offices:
                log.warning("clock %s (%s) %s: no active staff at the nodes of %s", row.id, row.clock, step.kind,
                            "/".join(step.relations))
            for user_id, node_id in [(u.id, None) for u in users] + [(None, o.id) for o in offices]:
                note = Notification(id=uuid.uuid4(), user_id=user_id, node_id=node_id, case_id=None, clock_id=row.id,
                                    clock=row.clock, period=period, step=index, kind=step.kind, level=step.level,
                                    due_at=due, created_at=ctx.now(), email_pending=email)
                ctx.session.add(note)
                created.append(note.id)
    ctx.session.flush()
    return created
