"""What a clock says to people, in Spanish and English: time left, urgency, and notification text.

Only the clock's label, moments and the case reference go into these sentences; nothing about the
person in the case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ..workflow import Text, WorkflowDefinition
from ..workflow.clocks import DUE, ESCALATION, PERIODIC, REMINDER, STARTED

OVERDUE, SOON, ON_TIME = "overdue", "soon", "on_time"


def span(delta: dt.timedelta) -> Text:
    """A duration in words, rounded the way people say it."""
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 60:
        return Text(f"{minutes} min", f"{minutes} min")
    hours = minutes // 60
    if hours < 48:
        return Text(f"{hours} h", f"{hours} h")
    days = hours // 24
    return Text(f"{days} días", f"{days} days")


def time_left(due: dt.datetime, now: dt.datetime) -> Text:
    if now >= due:
        words = span(now - due)
        return Text(f"Vencido hace {words.es}", f"Overdue by {words.en}")
    words = span(due - now)
    return Text(f"Vence en {words.es}", f"Due in {words.en}")


def urgency(started: dt.datetime, due: dt.datetime, now: dt.datetime) -> str:
    """overdue; soon (the last quarter of the time, or under a day); else on_time."""
    if now >= due:
        return OVERDUE
    left = due - now
    if left <= (due - started) / 4 or left <= dt.timedelta(hours=24):
        return SOON
    return ON_TIME


URGENCY_WORDS = {
    OVERDUE: Text("Vencido", "Overdue"),
    SOON: Text("Por vencer", "Due soon"),
    ON_TIME: Text("En plazo", "On time"),
}


def local(moment: dt.datetime, timezone: ZoneInfo) -> str:
    """Local wall-clock time of a moment (when something happened)."""
    return moment.astimezone(timezone).strftime("%d-%m-%Y %H:%M")


def deadline(moment: dt.datetime, timezone: ZoneInfo) -> str:
    """Local wall-clock time of a deadline; one at midnight reads as the last minute of its day
    ("04-12-2026 23:59"), as day-limits are stated: never as "24:00", nor as 00:00 of the next day."""
    wall = moment.astimezone(timezone)
    if (wall.hour, wall.minute, wall.second, wall.microsecond) == (0, 0, 0, 0):
        return (wall - dt.timedelta(minutes=1)).strftime("%d-%m-%Y %H:%M")
    return wall.strftime("%d-%m-%Y %H:%M")


@dataclass(frozen=True)
class Message:
    title: Text
    body: Text


def message(kind: str, label: Text, due: dt.datetime, timezone: ZoneInfo, reference: str, level: int = 0,
            relation: Text | None = None, about: Text | None = None) -> Message:
    """The words of one reminder or escalation (in-app and e-mail alike): of a case («Caso TP-...»), or of a
    subject that is not a case (`about`: «Acuerdo de la Mesa n.º 7»)."""
    when = deadline(due, timezone)
    es, en = f"«{label.es}»", f"“{label.get('en')}”"
    whose = about or Text(f"Caso {reference}", f"Case {reference}")
    who_es, who_en = whose.es, whose.get("en")
    if kind == STARTED:
        title = Text("Nuevo plazo", "New deadline")
        body = Text(f"{who_es}: {es}, plazo hasta el {when}.", f"{who_en}: {en}, due by {when}.")
    elif kind == REMINDER:
        title = Text("Recordatorio de plazo", "Deadline reminder")
        body = Text(f"{who_es}: {es} vence el {when}.", f"{who_en}: {en} is due on {when}.")
    elif kind == DUE:
        title = Text("Plazo vencido", "Deadline missed")
        body = Text(f"{who_es}: {es} venció el {when} y sigue pendiente.",
                    f"{who_en}: {en} was due on {when} and is still pending.")
    elif kind == PERIODIC:
        title = Text("Acción periódica", "Periodic action")
        body = Text(f"{who_es}: corresponde {es} (plazo del {when}).",
                    f"{who_en}: {en} is due now (period ending {when}).")
    elif kind == ESCALATION:
        as_whom = relation or Text("", "")
        title = Text(f"Escalamiento (nivel {level})", f"Escalation (level {level})")
        body = Text(
            f"{who_es}: {es} está vencido desde el {when}. Se le informa como {as_whom.es}.",
            f"{who_en}: {en} has been overdue since {when}. You are told as {as_whom.get('en')}.",
        )
    else:
        raise ValueError(f"unknown step kind {kind!r}")
    return Message(title, body)


def notification_message(definition: WorkflowDefinition, clock_key: str, kind: str, due: dt.datetime, level: int,
                         reference: str, timezone: ZoneInfo, about: Text | None = None) -> Message:
    """The words of a stored notification: its clock's label, and for an escalation whom it tells."""
    clock = definition.clocks.get(clock_key)
    label = clock.label if clock is not None else Text(clock_key, clock_key)
    relation = None
    if clock is not None and kind == ESCALATION and 0 < level <= len(clock.escalate):
        relation = definition.relation_label(clock.escalate[level - 1][1])
    return message(kind, label, due, timezone, reference, level, relation, about)
