"""Comparing two revisions of one instrument of a case, field by field (a returned Informe and its
correction). The reader sees only what she may read of the form: the same relation and section rules
as the form page (`forms.<key>.readers` and `sections` in the workflow), applied to both revisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..auth.models import User
from ..context import Context
from ..workflow.forms import FieldDef, FormDef
from ..kernel.access import open_case
from ..kernel.errors import AccessDenied, CaseNotFound
from ..kernel.models import FormRecord
from .reading import EMPTY, NO_SUCH_FORM, Reader
from ..kernel.records import open_values


@dataclass(frozen=True)
class RevisionMeta:
    revision: int
    status_label: str
    author_node: str
    updated_at: str


@dataclass(frozen=True)
class ChangedField:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class ChangedSection:
    label: str
    fields: tuple[ChangedField, ...]


@dataclass(frozen=True)
class Comparison:
    case_id: Any
    reference: str
    form_key: str
    label: str
    before: RevisionMeta
    after: RevisionMeta
    sections: tuple[ChangedSection, ...]
    unchanged: int  # fields the reader may see that are the same in both
    revisions: tuple[int, ...]  # every revision of the form, for choosing another pair


def compare_revisions(ctx: Context, user: User, reference: str, form_key: str, first: int, second: int,
                      language: str) -> Comparison:
    """The differences between revisions `first` and `second` (in either order) of a form the user may
    read; CaseNotFound if the form or either revision does not exist, AccessDenied if she may not read it."""
    case, actor = open_case(ctx, user, reference)
    if form_key not in ctx.definition.forms:
        raise CaseNotFound(NO_SUCH_FORM)
    if not ctx.engine.can_read(form_key, actor.relations):
        raise AccessDenied()
    older, newer = sorted((first, second))
    rows = {row.revision: row for row in ctx.session.scalars(select(FormRecord).where(
        FormRecord.case_id == case.id, FormRecord.form_key == form_key, FormRecord.revision.in_((older, newer))))}
    if older not in rows or newer not in rows:
        raise CaseNotFound()
    only = ctx.engine.readable_sections(form_key, actor.relations)
    reader = Reader(ctx, language)
    before, after = rows[older], rows[newer]
    old_form, new_form = (ctx.definition.form(r.form_key, r.form_version) for r in (before, after))
    old_values, new_values = open_values(ctx, case, before), open_values(ctx, case, after)
    sections, unchanged = [], 0
    for key, label in _section_keys(reader, new_form, old_form):
        if only is not None and key not in only:
            continue
        changed = []
        for fdef_old, fdef_new in _fields(old_form, new_form, key):
            was = _plain(fdef_old, old_values.get(fdef_old.key)) if fdef_old else None
            now = _plain(fdef_new, new_values.get(fdef_new.key)) if fdef_new else None
            if was == now:
                unchanged += 1
                continue
            shown = fdef_new or fdef_old
            assert shown is not None
            changed.append(ChangedField(
                reader.t(shown.label),
                _text(reader, fdef_old, old_values.get(fdef_old.key)) if fdef_old else EMPTY,
                _text(reader, fdef_new, new_values.get(fdef_new.key)) if fdef_new else EMPTY))
        if changed:
            sections.append(ChangedSection(label, tuple(changed)))
    every = tuple(ctx.session.scalars(select(FormRecord.revision).where(
        FormRecord.case_id == case.id, FormRecord.form_key == form_key).order_by(FormRecord.revision)))
    return Comparison(case.id, case.reference, form_key, reader.t(new_form.label), _meta(reader, before),
                      _meta(reader, after), tuple(sections), unchanged, every)


def _meta(reader: Reader, record: FormRecord) -> RevisionMeta:
    return RevisionMeta(record.revision, reader.status(record.form_key, record.status),
                        record.author_node.short_name, reader.local(record.updated_at))


def _section_keys(reader: Reader, new: FormDef, old: FormDef) -> list[tuple[str, str]]:
    """Section keys in the newer version's order, then any the older version alone had."""
    seen = {s.key for s in new.sections}
    return [(s.key, reader.t(s.label)) for s in new.sections] + \
        [(s.key, reader.t(s.label)) for s in old.sections if s.key not in seen]


def _fields(old: FormDef, new: FormDef, section: str) -> list[tuple[FieldDef | None, FieldDef | None]]:
    """Pairs (older field, newer field) of one section by key; None where a version lacks the field."""
    def of(form: FormDef) -> dict[str, FieldDef]:
        return {f.key: f for s in form.sections if s.key == section for f in s.fields}

    old_fields, new_fields = of(old), of(new)
    keys = list(new_fields) + [key for key in old_fields if key not in new_fields]
    return [(old_fields.get(key), new_fields.get(key)) for key in keys]


def _plain(fdef: FieldDef, value: Any) -> Any:
    """A value in a form that compares equal when a reader would see the same thing."""
    if value in (None, "", [], {}) or (fdef.type == "boolean" and value is False):
        return None
    if fdef.type == "group":
        return [{sub.key: _plain(sub, item.get(sub.key)) for sub in fdef.fields}
                for item in value if isinstance(item, Mapping)]
    return value


def _text(reader: Reader, fdef: FieldDef, value: Any) -> str:
    view = reader.value(fdef, value)
    if not view.items:
        return view.value
    return "\n".join("; ".join(f"{sub.label}: {sub.value}" for sub in item) for item in view.items)

