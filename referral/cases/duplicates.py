"""Possible duplicates: the same person's earlier cases, found through blind indexes, never by decrypting.

Digests are written when a Ficha is filed or amended. Who is told of a match is itself sensitive
(that a person is known to the police, or to a shelter, is personal data): a node sees the references
of matching cases it already takes part in; members of the relations named in the definition's
`duplicates.visible_to` (the focal point, national coordination) are also told how many matches lie
in cases outside their scope, without their references.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import aliased

from ..auth.models import User
from ..context import Context
from ..kernel.keystore import blind_indexer
from ..vault import normalise_document, normalise_name
from ..workflow.definition import BlindIndexDef
from ..kernel.models import BlindIndex, Case, Participant, live_participant

MIN_DOCUMENT = 5  # shorter "numbers" (a typo, "NN") would match unrelated people
MIN_NAME_WORDS = 2


@dataclass(frozen=True)
class DuplicateNotice:
    references: tuple[str, ...]  # matching cases the viewer's node takes part in
    elsewhere: int  # matches outside the viewer's scope (0 unless the viewer may be told)


def _document_parts(raw: object) -> list[str] | None:
    number = normalise_document(raw) if isinstance(raw, str) else ""
    # "sin documento", "no tiene": placeholder text without a digit would link unrelated people
    return [number] if len(number) >= MIN_DOCUMENT and any(c.isdigit() for c in number) else None


def _name_parts(words: list[str], dates: list[str]) -> list[str] | None:
    if len(words) < MIN_NAME_WORDS:
        return None
    return [" ".join(sorted(words)), *dates]


def _parts(index: BlindIndexDef, form_fields: Mapping[str, str], values: Mapping[str, Any]) -> list[str] | None:
    """The normalised parts of one index, or None if the values are too thin to identify anyone."""
    if index.normalise == "document":
        return _document_parts(values.get(index.fields[0]))
    words: list[str] = []
    dates: list[str] = []
    for key in index.fields:
        value = values.get(key)
        if value in (None, ""):
            return None
        if form_fields[key] == "text":
            words.extend(normalise_name(str(value)).split())
        elif isinstance(value, dt.date | dt.datetime):
            dates.append(value.isoformat())
        else:
            dates.append(str(value))
    return _name_parts(words, dates)


def _digests_by(ctx: Context, parts_of: Callable[[BlindIndexDef, dict[str, str]], list[str] | None]) -> list[tuple[str, bytes]]:
    """(index key, digest) for every declared index whose `parts_of(index, form field types)` is not None."""
    spec = ctx.definition.duplicates
    if spec is None:
        return []
    form_fields = {f.key: f.type for f in ctx.definition.form(spec.form).fields()}
    indexer = blind_indexer(ctx)
    found = []
    for index in spec.indexes.values():
        parts = parts_of(index, form_fields)
        if parts is not None:
            found.append((index.key, indexer.digest(index.key, parts)))
    return found


def digests(ctx: Context, values: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    return _digests_by(ctx, lambda index, form_fields: _parts(index, form_fields, values))


def query_digests(ctx: Context, text: str, date: dt.date | None) -> list[tuple[str, bytes]]:
    """The digests a search for a person looks up: `text` as a document number, and `text` as the names
    of a name index whose one other field is `date` (the date of birth). The same normalisation and keys
    as the digests written at filing, so a search finds exactly what the duplicate check would."""
    def parts_of(index: BlindIndexDef, form_fields: dict[str, str]) -> list[str] | None:
        if index.normalise == "document":
            return _document_parts(text)
        others = [key for key in index.fields if form_fields[key] != "text"]
        if date is None or len(others) != 1 or form_fields[others[0]] != "date":
            return None
        return _name_parts(normalise_name(text).split(), [date.isoformat()])

    return _digests_by(ctx, parts_of)


def index_case(ctx: Context, case: Case, form_key: str, values: Mapping[str, Any]) -> None:
    """Replace the case's digests after its identifying form was filed or amended."""
    spec = ctx.definition.duplicates
    if spec is None or form_key != spec.form:
        return
    ctx.session.execute(delete(BlindIndex).where(BlindIndex.case_id == case.id))
    for kind, digest in digests(ctx, values):
        ctx.session.add(BlindIndex(case_id=case.id, kind=kind, digest=digest))


def notice_for(ctx: Context, user: User, case: Case, relations: frozenset[str]) -> DuplicateNotice | None:
    """What this user may be told about other cases of the same person; None if nothing."""
    spec = ctx.definition.duplicates
    if spec is None:
        return None
    # One statement (issue 17): the other cases sharing a digest with this one (its own digests a subquery),
    # each with whether the user's node may open it. Every blind index belongs to a case (a foreign key), so
    # these rows are exactly the matching cases the separate queries counted.
    mine = select(BlindIndex.kind, BlindIndex.digest).where(BlindIndex.case_id == case.id)
    other = aliased(BlindIndex)
    matches = select(other.case_id).where(tuple_(other.kind, other.digest).in_(mine), other.case_id != case.id)
    reachable = exists(select(Participant.id).where(
        Participant.case_id == Case.id, Participant.node_id == user.node_id, live_participant(ctx.now())))
    found = ctx.session.execute(select(Case.reference, reachable).where(Case.id.in_(matches))).all()
    if not found:
        return None
    references = tuple(sorted(reference for reference, may_open in found if may_open))
    elsewhere = len(found) - len(references) if relations & set(spec.visible_to) else 0
    if not references and not elsewhere:
        return None
    return DuplicateNotice(references, elsewhere)
