"""Keeping the statistics projection (`case_stats`, `case_stat_steps`) in step with each case, inside
the step's own transaction: the intake and every form change (categories), every transition (state,
tracks, milestones, entry, closing). What is counted is declared in workflow.yaml `statistics`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from ..audit.service import pseudonym
from ..kernel.models import Case, Track
from ..context import Context
from ..workflow.definition import Transition
from .disclosure import new_record_key
from .models import CaseStat, CaseStatStep

DAY_SECONDS = 86400.0


def stat_row(ctx: Context, case: Case) -> CaseStat | None:
    """The case's row, created on first use; None when the workflow declares no statistics."""
    if not ctx.definition.statistics.declared:
        return None
    row = ctx.session.get(CaseStat, case.id)
    if row is None:
        row = CaseStat(case_id=case.id, pseudonym=pseudonym(ctx, case.id), region_code=case.region_code,
                       detecting_org_type=case.detecting_node.org_type, state=case.state, tracks={}, attributes={},
                       detected_at=case.created_at, record_key=new_record_key())
        ctx.session.add(row)
    return row


def project_categories(ctx: Context, case: Case, values: Mapping[str, Mapping[str, Any]],
                       flags: Mapping[str, bool]) -> None:
    """The case's categories from its forms' (decrypted) values and its flags; only codes are kept."""
    row = stat_row(ctx, case)
    if row is not None:
        row.attributes = ctx.definition.statistics.attributes(values, flags)


def project_transition(ctx: Context, case: Case, transition: Transition, values: Mapping[str, Any]) -> None:
    """State, tracks, first-reached milestones, entry and termination type after `transition` fired."""
    row = stat_row(ctx, case)
    if row is None:
        return
    spec = ctx.definition.statistics
    now = ctx.now()
    row.state = case.state
    if transition.machine:  # only a track's transition changes the tracks
        row.tracks = {t.track: t.state for t in ctx.session.scalars(select(Track).where(Track.case_id == case.id))}
    if transition.key == spec.entry and row.entered_at is None:
        row.entered_at = now
    milestones = spec.milestones_of(transition.key)
    if milestones:
        reached = set(ctx.session.scalars(select(CaseStatStep.milestone).where(CaseStatStep.case_id == case.id)))
        for milestone in milestones:
            if milestone not in reached:
                ctx.session.add(CaseStatStep(case_id=case.id, milestone=milestone, at=now,
                                             days=(now - row.detected_at).total_seconds() / DAY_SECONDS))
    state = ctx.definition.main.states.get(case.state)
    if state is not None and state.closed:
        if transition.machine == "" and not transition.stays:
            row.closed_at = now
            name = spec.outcome_field(transition.form)
            code = values.get(name) if name else None
            row.closing = str(code) if isinstance(code, str) else None
    else:
        row.closed_at, row.closing = None, None
