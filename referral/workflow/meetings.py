"""Coordination meetings of a case (mesa de caso) as data: who convenes, who may be invited, the modalities.

A meeting is convened by a node holding one of `conveners`; it invites nodes holding one of `attendees`
among the case's live participants. Its minutes and agreements are read by the convener's node and the
invited nodes (plus `always_read_by`, a break-glass access). Each agreement is a task of one responsible
node with a due date: clocks listen for the steps of meetings (`meeting_state`) and of agreements
(`agreement_state`), and may remind or escalate to the parties of that meeting or agreement (`PARTIES`).
Pure: no database, no Flask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .forms import basis_of, names_of
from .text import Text, text_from

_KEYS = {"label", "basis", "conveners", "attendees", "modalities", "always_read_by"}

MEETING_MACHINE, AGREEMENT_MACHINE = "~meeting", "~agreement"  # never a track key
CONVENED, HELD, CANCELLED = "convocada", "realizada", "cancelada"  # a meeting's steps
OPEN, DONE = "abierto", "cumplido"  # an agreement's steps
STATES = {"meeting_state": (CONVENED, HELD, CANCELLED), "agreement_state": (OPEN, DONE)}
MACHINES = {"meeting_state": MEETING_MACHINE, "agreement_state": AGREEMENT_MACHINE}
CONVENER, INVITEE, RESPONSIBLE = "convocante", "invitado", "responsable"
PARTIES = {"meeting_state": frozenset({CONVENER, INVITEE}), "agreement_state": frozenset({CONVENER, RESPONSIBLE})}
ALL_PARTIES = frozenset({CONVENER, INVITEE, RESPONSIBLE})
DUE_FIELDS = {"meeting_state": "meeting.starts_at", "agreement_state": "agreement.due_on"}
PARTY_LABELS = {
    CONVENER: Text("Nodo que convocó la mesa", "Node that convened the meeting"),
    INVITEE: Text("Nodos invitados a la mesa", "Nodes invited to the meeting"),
    RESPONSIBLE: Text("Nodo responsable del acuerdo", "Node responsible for the agreement"),
}


@dataclass(frozen=True)
class MeetingsDef:
    label: Text
    conveners: tuple[str, ...]  # relations whose nodes may convene a meeting of the case
    attendees: tuple[str, ...]  # relations whose nodes may be invited (and be responsible for an agreement)
    modalities: Mapping[str, Text]  # key -> bilingual label, in the declared order
    always_read_by: tuple[str, ...] = ()
    basis: str | None = None

    def may_convene(self, relations: frozenset[str]) -> bool:
        return bool(relations & set(self.conveners))

    def readable_by(self, convener: int, invited: list[int] | tuple[int, ...], node: int,
                    relations: frozenset[str]) -> bool:
        """Whether a node holding `relations` to the case reads a meeting, its minutes and agreements."""
        return node == convener or node in invited or bool(relations & set(self.always_read_by))


def subject_event(starts_on: Mapping[str, Any]) -> str | None:
    """The meeting or agreement event a clock starts on (its clock then belongs to one of them), or None."""
    return next((kind for kind in STATES if kind in starts_on), None)


def parse_meetings(raw: Any, where: str) -> MeetingsDef | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{where}: expected a mapping with keys {sorted(_KEYS)}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(map(str, unknown))} (allowed: {sorted(_KEYS)})")
    for key in ("label", "conveners", "attendees", "modalities"):
        if key not in raw:
            raise DefinitionError(f"{where}: missing '{key}'")
    modalities = raw["modalities"]
    if not isinstance(modalities, Mapping) or not modalities:
        raise DefinitionError(f"{where}.modalities: a non-empty mapping of modalities to labels")
    return MeetingsDef(
        label=text_from(raw["label"], f"{where}.label"),
        conveners=names_of(raw["conveners"], f"{where}.conveners"),
        attendees=names_of(raw["attendees"], f"{where}.attendees"),
        modalities={str(k): text_from(v, f"{where}.modalities.{k}") for k, v in modalities.items()},
        always_read_by=names_of(raw.get("always_read_by"), f"{where}.always_read_by"),
        basis=basis_of(raw, where),
    )


def meetings_problems(meetings: MeetingsDef | None, relations: Mapping[str, Any]) -> Iterator[str]:
    if meetings is None:
        return
    for key in ("conveners", "attendees", "always_read_by"):
        for relation in getattr(meetings, key):
            if relation not in relations:
                yield f"meetings.{key}: unknown relation '{relation}'"
    if not meetings.conveners:
        yield "meetings.conveners: name the relations whose nodes convene meetings"
    if not meetings.attendees:
        yield "meetings.attendees: name the relations whose nodes may be invited"
