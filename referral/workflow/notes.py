"""Case notes as data: the kinds of entry, which relations may write them, and with whom they are shared.

A note is read by its author's node and by the nodes holding one of the relations it is shared with
(chosen when it is written, from `share_with`, `default_share` ticked), plus `always_read_by` (a
break-glass access). Pure: no database, no Flask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .forms import basis_of, names_of
from .text import Text, text_from

_KEYS = {"label", "basis", "types", "writers", "share_with", "default_share", "always_read_by"}


@dataclass(frozen=True)
class NotesDef:
    label: Text
    types: Mapping[str, Text]  # key -> bilingual label, in the declared order
    writers: tuple[str, ...]  # relations whose nodes may write notes
    share_with: tuple[str, ...]  # relations a note may be shared with
    default_share: tuple[str, ...]  # ticked on a new note
    always_read_by: tuple[str, ...] = ()
    basis: str | None = None

    def readable_by(self, author_node: int, shared: tuple[str, ...] | list[str], node: int,
                    relations: frozenset[str]) -> bool:
        """Whether a node holding `relations` to the case reads a note written by `author_node`."""
        return node == author_node or bool(relations & (set(shared) | set(self.always_read_by)))


def parse_notes(raw: Any, where: str) -> NotesDef | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{where}: expected a mapping with keys {sorted(_KEYS)}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(map(str, unknown))} (allowed: {sorted(_KEYS)})")
    for key in ("label", "types", "writers"):
        if key not in raw:
            raise DefinitionError(f"{where}: missing '{key}'")
    types = raw["types"]
    if not isinstance(types, Mapping) or not types:
        raise DefinitionError(f"{where}.types: a non-empty mapping of note types to labels")
    return NotesDef(
        label=text_from(raw["label"], f"{where}.label"),
        types={str(k): text_from(v, f"{where}.types.{k}") for k, v in types.items()},
        writers=names_of(raw["writers"], f"{where}.writers"),
        share_with=names_of(raw.get("share_with"), f"{where}.share_with"),
        default_share=names_of(raw.get("default_share"), f"{where}.default_share"),
        always_read_by=names_of(raw.get("always_read_by"), f"{where}.always_read_by"),
        basis=basis_of(raw, where),
    )


def notes_problems(notes: NotesDef | None, relations: Mapping[str, Any]) -> Iterator[str]:
    if notes is None:
        return
    for key in ("writers", "share_with", "default_share", "always_read_by"):
        for relation in getattr(notes, key):
            if relation not in relations:
                yield f"notes.{key}: unknown relation '{relation}'"
    for relation in notes.default_share:
        if relation not in notes.share_with:
            yield f"notes.default_share: '{relation}' is not among share_with"
    if not notes.writers:
        yield "notes.writers: name the relations whose nodes write notes"
