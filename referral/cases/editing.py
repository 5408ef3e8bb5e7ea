"""Saving a case's form (drafts of the Informe Social and the Plan; amendments of the Ficha): each save a revision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .duplicates import index_case
from ..auth.models import User
from ..context import Context
from ..kernel.access import open_case
from .links import index_links
from ..kernel.models import FormRecord
from .derived import refresh_derived
from ..kernel.records import current_records, facts_for, new_record
from ..kernel.timeline import append_event
from ..kernel.claims import claim_version
from .validation import checked_values


def save_form(ctx: Context, user: User, reference: str, form_key: str, values: Mapping[str, Any],
              expected_version: int) -> FormRecord:
    """Save the user's values as a new revision of the form; every earlier revision is kept.

    Each save is a new revision number, so two revisions can be compared (a returned Informe and its
    correction, two saves of a draft). A draft or a returned form goes on in the definition version
    it was started in; otherwise (approved, or a submitted intake) the newest version is used.
    """
    case, actor = open_case(ctx, user, reference)
    claim_version(ctx, case, expected_version)
    records = current_records(ctx, case)
    refusal = ctx.engine.edit_refusal(form_key, facts_for(ctx, case, records), actor)
    if refusal is not None:
        raise refusal
    current = records.get(form_key)
    amending = form_key == ctx.definition.intake.form  # the Ficha is amended whole, never a draft
    continuing = current is not None and current.status in ("draft", "returned") and not amending
    form = ctx.definition.form(form_key, current.form_version if continuing and current else None)
    clean = checked_values(ctx, form, values, final=amending)
    if current is not None:
        current.current = False  # kept as it was: a returned revision stays «returned»
    record = new_record(
        ctx, case, user, form, clean, revision=(current.revision + 1) if current else 1,
        status="submitted" if amending else "draft", complete=form.is_complete(clean, ctx.local_now()),
    )
    records = {**records, form_key: record}
    refresh_derived(ctx, case, records)
    index_case(ctx, case, form_key, clean)
    index_links(ctx, case, form_key, clean)
    append_event(ctx, case, user, kind="form_saved", action=form_key, from_state=case.state,
                 to_state=case.state, record=record)
    ctx.session.flush()
    return record
