"""The Protocol's clocks as pure rules: which events start and stop them, and when each step falls.

Nothing here knows a database or Celery. `reactions` answers "this happened to the case: which
clocks start, which stop?", and `schedule` answers "a clock started at this moment: when is it due,
and when is each reminder and escalation?". `referral/clocks/` stores the answers and runs them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .calendar import WorkingCalendar
from .definition import Clock, Transition, WorkflowDefinition
from .meetings import MACHINES as SUBJECT_MACHINES
from .meetings import subject_event

REMINDER, DUE, PERIODIC, ESCALATION = "reminder", "due", "periodic", "escalation"
STARTED = "started"  # the clock has just started (notify_on_start): e.g. a referral has arrived
STEP_KINDS = (STARTED, REMINDER, DUE, PERIODIC, ESCALATION)
CASE_CLOSED, STOP_EVENT = "case_closed", "stop_event"
REFERRAL_MACHINE = "~referral"  # never a track key (the definition's keys are plain names)


@dataclass(frozen=True)
class Occurrence:
    """One step of a case, in the terms clocks listen for."""

    machine: str  # "" for the case itself, else the track
    from_state: str | None
    to_state: str | None
    transition: str | None = None
    forms_submitted: frozenset[str] = frozenset()
    actor_org_type: str | None = None  # the organisation type of the node that took the step
    inputs: Mapping[str, Any] = field(default_factory=dict)  # typed values of the step's own form
    referral_kind: str | None = None  # a step of one referral (machine is then REFERRAL_MACHINE)
    subject: str = ""  # the referral's id: clocks it starts belong to that referral alone

    @classmethod
    def of_referral(cls, kind: str, from_state: str | None, to_state: str, subject: str,
                    inputs: Mapping[str, Any] | None = None) -> Occurrence:
        return cls(REFERRAL_MACHINE, from_state, to_state, referral_kind=kind, subject=subject,
                   inputs=dict(inputs or {}))

    @classmethod
    def of_subject(cls, event: str, from_state: str | None, to_state: str, subject: str,
                   inputs: Mapping[str, Any] | None = None) -> Occurrence:
        """A step of one meeting (`meeting_state`) or one agreement (`agreement_state`) of the case."""
        return cls(SUBJECT_MACHINES[event], from_state, to_state, subject=subject, inputs=dict(inputs or {}))

    @classmethod
    def of_transition(cls, transition: Transition, from_state: str | None, to_state: str,
                      actor_org_type: str | None = None, inputs: Mapping[str, Any] | None = None) -> Occurrence:
        submitted = {effect.form for effect in transition.effects if effect.kind == "submit_form"}
        return cls(transition.machine, from_state, to_state, transition.key, frozenset(submitted), actor_org_type,
                   dict(inputs or {}))


@dataclass(frozen=True)
class Reactions:
    starts: tuple[str, ...]
    stops: Mapping[str, str]  # clock key -> why ("stop event" or "case_closed")


@dataclass(frozen=True)
class Step:
    at: dt.datetime
    kind: str  # reminder | due | periodic | escalation
    relations: tuple[str, ...]  # who is told
    level: int = 0  # 1, 2, ... for escalations


def matches(event: Mapping[str, Any], occurrence: Occurrence) -> bool:
    """True if the occurrence is one of the events a clock declares (kinds combine with "or")."""
    o = occurrence
    moved = o.from_state != o.to_state
    for kind, value in event.items():
        values = set(value) if isinstance(value, list) else {value}
        if o.referral_kind is not None:  # a referral's step matches only referral events
            if kind == "referral_state" and moved and f"{o.referral_kind}.{o.to_state}" in values:
                return True
            continue
        if o.machine in _SUBJECT_EVENTS:  # a meeting's or agreement's step matches only its own events
            if kind == _SUBJECT_EVENTS[o.machine] and moved and o.to_state in values:
                return True
            continue
        if kind == "enter_state" and o.machine == "" and moved and o.to_state in values:
            return True
        if kind == "leave_state" and o.machine == "" and moved and o.from_state in values:
            return True
        if kind == "transition" and o.transition in values:
            return True
        if kind == "form_submitted" and o.forms_submitted & values:
            return True
        if kind == "track_state" and o.machine and moved and f"{o.machine}.{o.to_state}" in values:
            return True
    return False


_SUBJECT_EVENTS = {machine: event for event, machine in SUBJECT_MACHINES.items()}


def of_referral(clock: Clock) -> bool:
    """A clock of one referral (one running period per referral, not per case)."""
    return "referral_state" in clock.starts_on


def of_subject(clock: Clock) -> bool:
    """A clock of one referral, meeting or agreement: its rows carry that one's id (`subject`)."""
    return of_referral(clock) or subject_event(clock.starts_on) is not None


def reactions(definition: WorkflowDefinition, occurrence: Occurrence) -> Reactions:
    """Clocks to stop (their stop event, or the case reached a closed state), then clocks to start."""
    closing = occurrence.machine == "" and occurrence.to_state is not None and \
        definition.main.states[occurrence.to_state].closed
    stops: dict[str, str] = {}
    for clock in definition.clocks.values():
        if clock.subject is not None:  # a subject that is not a case: no step of a case touches it
            continue
        if clock.stops_on and matches(clock.stops_on, occurrence):
            stops[clock.key] = STOP_EVENT  # its own event, even if the same step closes the case
        elif closing:
            stops[clock.key] = CASE_CLOSED
    starts = tuple(
        clock.key for clock in definition.clocks.values()
        if not closing and clock.subject is None and matches(clock.starts_on, occurrence)
        and (not clock.started_by or occurrence.actor_org_type in clock.started_by)
        and occurrence.actor_org_type not in clock.not_started_by
    )
    return Reactions(starts, stops)


def restarted_by_note(definition: WorkflowDefinition, note_type: str, relations: frozenset[str]) -> tuple[str, ...]:
    """Clocks whose running period a note of `note_type`, written by a node holding `relations`, restarts."""
    return tuple(
        clock.key for clock in definition.clocks.values()
        if clock.restarts_on and note_type in clock.restarts_on["note_recorded"]
        and relations & set(clock.restarts_on["by"])
    )


def due_time(clock: Clock, started_at: dt.datetime, calendar: WorkingCalendar,
             deadline: dt.datetime | None = None) -> dt.datetime:
    """The deadline: the duration after the start, or, for a clock whose deadline is a typed date,
    `deadline` (what the starting step recorded)."""
    if clock.duration is None:
        if deadline is None:
            raise ValueError(f"clock {clock.key!r} takes its deadline from {clock.deadline_from}; none given")
        return deadline
    return calendar.add(started_at, clock.duration)


def deadline_given(clock: Clock, inputs: Mapping[str, Any], calendar: WorkingCalendar) -> dt.datetime | None:
    """For a deadline_from clock: the end of the day typed into the starting form, the referral's committed
    date or the agreement's due date; or the moment given (a meeting's time, aware). None if absent."""
    if clock.deadline_from is None:
        return None
    value = inputs.get(clock.deadline_from.partition(".")[2])
    if isinstance(value, dt.datetime):  # a moment (a meeting's time) is its own deadline
        return value if value.tzinfo is not None else None
    return calendar.end_of(value) if isinstance(value, dt.date) else None


def schedule(clock: Clock, started_at: dt.datetime, calendar: WorkingCalendar,
             deadline: dt.datetime | None = None) -> tuple[Step, ...]:
    """Every step of one period of the clock, in the order they fall (ties: as declared)."""
    due = due_time(clock, started_at, calendar, deadline)
    steps: list[Step] = [Step(started_at, STARTED, clock.remind)] if clock.notify_on_start else []
    steps += [
        Step(at, REMINDER, clock.remind)
        for at in sorted({calendar.subtract(due, before) for before in clock.remind_before})
        if started_at < at < due
    ]
    steps.append(Step(due, PERIODIC if clock.repeats else DUE, clock.remind))
    steps.extend(
        Step(max(calendar.add(started_at, after), due), ESCALATION, (relation,), level)
        for level, (after, relation) in enumerate(clock.escalate, start=1)
    )
    order = {kind: i for i, kind in enumerate(STEP_KINDS)}
    return tuple(sorted(steps, key=lambda s: (s.at, order[s.kind], s.level)))
