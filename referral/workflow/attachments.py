"""Case documents (attachments) as data: their kinds, who uploads, who reads each kind, what files are taken.

A document is read by its uploader's node, by the nodes holding a relation its kind names in `readers`
(a medical report: the lead node and health; not a shelter), by the relations the uploader shares it with
(`share_with`, chosen per upload), and by `always_read_by` (a break-glass access). Only the content types
listed are taken, recognised by the file's content, up to `max_mb`. Pure: no database, no Flask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .forms import basis_of, names_of
from .text import Text, text_from

_KEYS = {"label", "basis", "kinds", "uploaders", "share_with", "always_read_by", "content_types", "max_mb"}
KNOWN_TYPES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}  # content type -> extension
DEFAULT_MAX_MB = 25


@dataclass(frozen=True)
class AttachmentKind:
    label: Text
    readers: tuple[str, ...]  # relations that read every document of this kind


@dataclass(frozen=True)
class AttachmentsDef:
    label: Text
    kinds: Mapping[str, AttachmentKind]  # in the declared order
    uploaders: tuple[str, ...]
    share_with: tuple[str, ...] = ()
    always_read_by: tuple[str, ...] = ()
    content_types: tuple[str, ...] = tuple(KNOWN_TYPES)
    max_mb: int = DEFAULT_MAX_MB
    basis: str | None = None

    @property
    def max_bytes(self) -> int:
        return self.max_mb * 1024 * 1024

    def shared_for(self, kind: str, chosen: tuple[str, ...] | list[str]) -> list[str]:
        """The relations a new document of `kind` is readable by: the kind's readers and those chosen."""
        readers = self.kinds[kind].readers if kind in self.kinds else ()
        return sorted(set(readers) | set(chosen))

    def readable_by(self, author_node: int, shared: tuple[str, ...] | list[str], node: int,
                    relations: frozenset[str]) -> bool:
        """Whether a node holding `relations` to the case reads a document uploaded by `author_node`."""
        return node == author_node or bool(relations & (set(shared) | set(self.always_read_by)))


def _kind(raw: Any, where: str) -> AttachmentKind:
    if not isinstance(raw, Mapping) or "label" not in raw or set(raw) - {"label", "readers"}:
        raise DefinitionError(f"{where}: expected {{label: {{es, en}}, readers: [relations]}}")
    return AttachmentKind(text_from(raw["label"], f"{where}.label"), names_of(raw.get("readers"), f"{where}.readers"))


def parse_attachments(raw: Any, where: str) -> AttachmentsDef | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{where}: expected a mapping with keys {sorted(_KEYS)}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {sorted(map(str, unknown))} (allowed: {sorted(_KEYS)})")
    for key in ("label", "kinds", "uploaders"):
        if key not in raw:
            raise DefinitionError(f"{where}: missing '{key}'")
    kinds = raw["kinds"]
    if not isinstance(kinds, Mapping) or not kinds:
        raise DefinitionError(f"{where}.kinds: a non-empty mapping of document kinds")
    max_mb = raw.get("max_mb", DEFAULT_MAX_MB)
    if not isinstance(max_mb, int) or isinstance(max_mb, bool) or not 1 <= max_mb <= 1024:
        raise DefinitionError(f"{where}.max_mb: a whole number of megabytes between 1 and 1024")
    types = names_of(raw.get("content_types"), f"{where}.content_types") or tuple(KNOWN_TYPES)
    return AttachmentsDef(
        label=text_from(raw["label"], f"{where}.label"),
        kinds={str(k): _kind(v, f"{where}.kinds.{k}") for k, v in kinds.items()},
        uploaders=names_of(raw["uploaders"], f"{where}.uploaders"),
        share_with=names_of(raw.get("share_with"), f"{where}.share_with"),
        always_read_by=names_of(raw.get("always_read_by"), f"{where}.always_read_by"),
        content_types=types, max_mb=max_mb, basis=basis_of(raw, where),
    )


def attachments_problems(attachments: AttachmentsDef | None, relations: Mapping[str, Any]) -> Iterator[str]:
    if attachments is None:
        return
    named = [("uploaders", r) for r in attachments.uploaders] + [("share_with", r) for r in attachments.share_with]
    named += [("always_read_by", r) for r in attachments.always_read_by]
    named += [(f"kinds.{k}.readers", r) for k, kind in attachments.kinds.items() for r in kind.readers]
    for key, relation in named:
        if relation not in relations:
            yield f"attachments.{key}: unknown relation '{relation}'"
    for content_type in attachments.content_types:
        if content_type not in KNOWN_TYPES:
            yield f"attachments.content_types: '{content_type}' is not one we recognise by content ({sorted(KNOWN_TYPES)})"
    if not attachments.uploaders:
        yield "attachments.uploaders: name the relations whose nodes upload documents"
