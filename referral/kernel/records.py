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
from ..network.models import Assignment
from .access import WRITES, pending_writes
from .keystore import open_cell, seal_cell
from .models import Case, FormRecord, Track
from .referral_models import Referral


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


def case_referrals(ctx: Context, case: Case) -> list[Referral]:
    """Every referral of the case, newest first, read once per unit of work: the case page's sections (the
    network panel, the answers pending, the rows of the forms, what a node there by referral may follow) each
    ask. Read again after anything was written, flushed, committed or rolled back (as `open_case` does)."""
    session, key = ctx.session, ("referrals", case.id)
    generation = session.info.get(WRITES, 0)
    hit = ctx.opened.get(key)
    if hit is not None and hit[0] == generation and not pending_writes(session):
        found: list[Referral] = hit[1]
        return found
    found = list(session.scalars(select(Referral).where(Referral.case_id == case.id)
                                 .order_by(Referral.created_at.desc(), Referral.id)))
    ctx.opened[key] = (generation, found, None)
    return found
