"""Form records of a case: sealing, opening, and the facts the engine reasons over."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from ..auth.models import User
from ..context import Context
from ..vault import Cell
from ..workflow import CaseFacts, FormFacts
from ..workflow.predicates import ReferralFacts
from ..workflow.forms import FormDef
from ..keys.store import open_cell, seal_cell
from .models import Case, FormRecord, Track


def data_cell(record: FormRecord) -> Cell:
    return Cell("form_records", "data", record.id)


def summary_cell(case: Case) -> Cell:
    return Cell("cases", "summary", case.id)


def details_cell(table: str, row_id: uuid.UUID) -> Cell:
    """The sealed notes of a referral, consent or emergency access (`table`.details)."""
    return Cell(table, "details", row_id)


def current_records(ctx: Context, case: Case) -> dict[str, FormRecord]:
    rows = ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id, FormRecord.current))
    return {row.form_key: row for row in rows}


def all_records(ctx: Context, case: Case) -> list[FormRecord]:
    """Every revision of every form of the case, oldest revision first (the current ones are those with
    `current`, as `current_records` reads them): one statement for a page that needs both."""
    return list(ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id)
                                    .order_by(FormRecord.revision, FormRecord.form_key)))


def open_values(ctx: Context, case: Case, record: FormRecord) -> dict[str, Any]:
    """The decrypted values of a record, typed by the definition version it was filled in."""
    raw = open_cell(ctx, case, record.data, data_cell(record))
    return ctx.definition.form(record.form_key, record.form_version).from_storage(raw)


def new_record(ctx: Context, case: Case, user: User, form: FormDef, values: Mapping[str, Any], *,
               revision: int, status: str, complete: bool) -> FormRecord:
    """A new sealed revision of a form; the caller decides whether it replaces the current one."""
    now = ctx.now()
    record = FormRecord(
        id=uuid.uuid4(), case_id=case.id, form_key=form.key, form_version=form.version, revision=revision,
        status=status, complete=complete, current=True, author_user_id=user.id, author_node_id=user.node_id,
        created_at=now, updated_at=now, submitted_at=now if status == "submitted" else None,
    )
    record.data = seal_cell(ctx, case, form.to_storage(values), data_cell(record))
    ctx.session.add(record)
    return record


def facts_for(ctx: Context, case: Case, records: Mapping[str, FormRecord] | None = None) -> CaseFacts:
    """States, flags and form facts of a case; only forms named by a field condition are decrypted."""
    records = current_records(ctx, case) if records is None else records
    needed = ctx.engine.fact_forms
    forms = {
        key: FormFacts(record.status, record.complete, open_values(ctx, case, record) if key in needed else {})
        for key, record in records.items()
    }
    tracks = {row.track: row.state for row in ctx.session.scalars(select(Track).where(Track.case_id == case.id))}
    return CaseFacts(state=case.state, tracks=tracks, flags=dict(case.flags or {}), forms=forms,
                     referrals=referral_facts(ctx, case))


def referral_facts(ctx: Context, case: Case) -> tuple[ReferralFacts, ...]:
    """Kind, service, state and the receiving node's network functions (for the case's region or
    national) of each referral of the case."""
    from ..network.models import Assignment
    from ..referrals.reading import case_referrals

    rows = case_referrals(ctx, case)  # the unit's list of the case's referrals: read once for a whole page
    if not rows:
        return ()
    functions: dict[int, set[str]] = {}
    # functions held for the case's region, or nationally (the same function held for another region does not count)
    for function, node_id in ctx.session.execute(select(Assignment.function, Assignment.node_id).where(
            Assignment.node_id.in_({row.to_node_id for row in rows}),
            (Assignment.region_code == case.region_code) | Assignment.region_code.is_(None))):
        functions.setdefault(node_id, set()).add(function)
    return tuple(ReferralFacts(row.kind, row.service, row.state, frozenset(functions.get(row.to_node_id, ())))
                 for row in rows)


def refresh_derived(ctx: Context, case: Case, records: Mapping[str, FormRecord]) -> None:
    """Recompute the case's flags, priority and sealed summary after a form changed."""
    facts = facts_for(ctx, case, records)
    case.flags = ctx.engine.flags(facts)
    case.priority = ctx.engine.priority(case.flags)
    intake_key = ctx.definition.intake.form
    use = ctx.definition.form_uses.get(intake_key)
    record = records.get(intake_key)
    if use is not None and use.summary_fields and record is not None:
        values = open_values(ctx, case, record)
        form = ctx.definition.form(record.form_key, record.form_version)
        summary = {key: values.get(key) for key in use.summary_fields}
        case.summary = seal_cell(ctx, case, form.to_storage(summary), summary_cell(case))
    if ctx.definition.statistics.declared:
        from ..stats.projection import project_categories

        counted = {key: facts.forms[key].values or open_values(ctx, case, records[key])
                   for key in ctx.definition.statistics.forms() if key in records}
        project_categories(ctx, case, counted, case.flags)
