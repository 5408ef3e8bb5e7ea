"""Case notes (atenciones): a dated entry of what was done with the person or for the case.

The kinds of entry, who writes and with whom notes are shared are the workflow's (`notes:`); a note is
sealed under the case key and read by its author's node and by the nodes holding a relation it is shared
with (`NotesDef.readable_by`). A note of a contact type may restart a clock (`restarts_on`). Audit events
carry ids only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit.service import record as audit
from ..auth.models import User
from ..clocks.service import on_note
from ..context import Context
from ..kernel.keystore import open_cell, seal_cell
from ..vault import Cell
from ..workflow import Text
from ..workflow.notes import NotesDef
from ..kernel.access import open_case
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..kernel.models import Case
from ..kernel.note_models import CaseNote

MAX_TEXT = 8000  # narrative and next steps
MAX_LINE = 500  # who took part

REQUIRED = Text("Este campo es obligatorio.", "This field is required.")
TOO_LONG = Text("El texto es demasiado largo.", "The text is too long.")
UNKNOWN_CHOICE = Text("Elija una opción de la lista.", "Choose an option from the list.")
FUTURE_DATE = Text("La fecha no puede ser futura.", "The date cannot be in the future.")


class NoteAlreadyRecorded(CaseError):
    """The same «Nueva atención» page was sent twice (a double click): the first one was recorded."""

    message = Text("Esta atención ya fue registrada.", "This note was already recorded.")


def note_cell(note_id: uuid.UUID) -> Cell:
    return Cell("case_notes", "data", note_id)


@dataclass(frozen=True)
class NoteInput:
    type: str
    date: dt.date | None
    participants: str
    narrative: str
    next_steps: str
    shared_with: tuple[str, ...]


@dataclass(frozen=True)
class NoteView:
    id: str
    type_label: str
    date: str
    participants: str
    narrative: str
    next_steps: str
    author_node: str
    written_at: str
    shared_with: tuple[str, ...]  # labels of the relations it is shared with
    own: bool  # written by the reader's node


@dataclass(frozen=True)
class NotesSection:
    label: str
    notes: tuple[NoteView, ...]
    may_write: bool


def notes_def(ctx: Context) -> NotesDef:
    if ctx.definition.notes is None:
        raise CaseNotFound()
    return ctx.definition.notes


def may_write(ctx: Context, relations: Iterable[str]) -> bool:
    notes = ctx.definition.notes
    return notes is not None and bool(set(relations) & set(notes.writers))


def open_for_writing(ctx: Context, user: User, reference: str, *, for_update: bool = False) -> tuple[Case, frozenset[str]]:
    """The case and the writer's relations; AccessDenied unless one of them may write notes."""
    notes_def(ctx)
    case, actor = open_case(ctx, user, reference, for_update=for_update)
    if not may_write(ctx, actor.relations):
        raise AccessDenied()
    return case, actor.relations


def validate(ctx: Context, values: NoteInput) -> dict[str, list[Text]]:
    notes = notes_def(ctx)
    errors: dict[str, list[Text]] = {}
    if values.type not in notes.types:
        errors["type"] = [UNKNOWN_CHOICE]
    if values.date is None:
        errors["date"] = [REQUIRED]
    elif values.date > ctx.now().astimezone(ctx.timezone).date():
        errors["date"] = [FUTURE_DATE]
    if not values.narrative.strip():
        errors["narrative"] = [REQUIRED]
    for key, limit in (("narrative", MAX_TEXT), ("next_steps", MAX_TEXT), ("participants", MAX_LINE)):
        if len(getattr(values, key)) > limit:
            errors.setdefault(key, []).append(TOO_LONG)
    if set(values.shared_with) - set(notes.share_with):
        errors["shared_with"] = [UNKNOWN_CHOICE]
    return errors


def record_note(ctx: Context, user: User, reference: str, values: NoteInput, token: str) -> CaseNote:
    """Seal and store one note; restart the clocks a contact satisfies. Raise AccessDenied,
    InvalidInput, NoteAlreadyRecorded (the same page sent twice). Flushes; the caller commits."""
    case, relations = open_for_writing(ctx, user, reference)
    if not token or len(token) > 64:
        raise InvalidInput({"token": [REQUIRED]})
    errors = validate(ctx, values)
    if errors:
        raise InvalidInput(errors)
    if ctx.session.scalar(select(CaseNote.id).where(CaseNote.token == token)) is not None:
        raise NoteAlreadyRecorded()
    note = CaseNote(id=uuid.uuid4(), case_id=case.id, author_user_id=user.id, author_node_id=user.node_id,
                    shared_with=sorted(set(values.shared_with)), token=token, created_at=ctx.now())
    content = {"type": values.type, "date": values.date.isoformat() if values.date else None,
               "participants": values.participants.strip(), "narrative": values.narrative.strip(),
               "next_steps": values.next_steps.strip()}
    note.data = seal_cell(ctx, case, content, note_cell(note.id))
    try:  # of two clicks at once, the second waits on the token's unique index and stops here
        with ctx.session.begin_nested():
            ctx.session.add(note)
    except IntegrityError:
        raise NoteAlreadyRecorded() from None

    restarted = on_note(ctx, case, values.type, relations)
    audit(ctx, "note.create", role=user.role, node_id=user.node_id, case_id=case.id, subject=str(note.id),
          details={"restarted": sorted(restarted) or None})
    ctx.session.flush()
    return note


def readable_notes(ctx: Context, user: User, case: Case, relations: frozenset[str]) -> list[CaseNote]:
    """The notes of the case this user's node may read, newest first (nothing is decrypted here)."""
    notes = ctx.definition.notes
    if notes is None:
        return []
    rows = ctx.session.scalars(select(CaseNote).where(CaseNote.case_id == case.id)
                               .order_by(CaseNote.created_at.desc(), CaseNote.id))
    return [row for row in rows if notes.readable_by(row.author_node_id, row.shared_with, user.node_id, relations)]


def notes_section(ctx: Context, user: User, reference: str, language: str) -> tuple[uuid.UUID, NotesSection | None]:
    """The notes section of the case page for this user (None when the workflow has no notes)."""
    case, actor = open_case(ctx, user, reference)
    notes = ctx.definition.notes
    if notes is None:
        return case.id, None
    views = tuple(_view(ctx, case, row, notes, user, language)
                  for row in readable_notes(ctx, user, case, actor.relations))
    return case.id, NotesSection(notes.label.get(language), views, may_write(ctx, actor.relations))


def case_notes(ctx: Context, user: User, reference: str, language: str) -> NotesSection | None:
    """The case page's notes section; the notes shown are an audit event (their ids only). Flushes."""
    case_id, section = notes_section(ctx, user, reference, language)
    if section is not None and section.notes:
        audit(ctx, "read", role=user.role, node_id=user.node_id, case_id=case_id,
              details={"page": "notes", "notes": [note.id for note in section.notes]})
    return section


def _view(ctx: Context, case: Case, row: CaseNote, notes: NotesDef, user: User, language: str) -> NoteView:
    content: Mapping[str, Any] = open_cell(ctx, case, row.data, note_cell(row.id))
    kind = notes.types.get(str(content.get("type")))
    date = content.get("date")
    relations = ctx.definition.relations
    return NoteView(
        id=str(row.id), type_label=kind.get(language) if kind else str(content.get("type")),
        date=dt.date.fromisoformat(date).strftime("%d-%m-%Y") if isinstance(date, str) else "",
        participants=str(content.get("participants") or ""), narrative=str(content.get("narrative") or ""),
        next_steps=str(content.get("next_steps") or ""), author_node=row.author_node.short_name,
        written_at=row.created_at.astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M"),
        shared_with=tuple(relations[r].label.get(language) for r in row.shared_with if r in relations),
        own=row.author_node_id == user.node_id,
    )


def form_choices(ctx: Context, language: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], tuple[str, ...]]:
    """(type choices, sharing choices, sharing ticked by default) for the «Nueva atención» form."""
    notes = notes_def(ctx)
    relations = ctx.definition.relations
    return ([(key, label.get(language)) for key, label in notes.types.items()],
            [(key, relations[key].label.get(language)) for key in notes.share_with],
            notes.default_share)
