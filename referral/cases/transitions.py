"""Firing a transition: permission, guards, effects, new state and timeline, in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from ..auth.models import User
from ..clocks.service import on_occurrence
from ..context import Context
from ..kernel.keystore import sync_wraps
from ..network.models import Node
from ..stats.projection import project_transition
from ..workflow import Text, TransitionRefused
from ..workflow.clocks import Occurrence
from ..workflow.definition import Effect, Transition
from ..kernel.access import open_case
from ..kernel.claims import claim_version
from ..kernel.errors import InvalidInput
from .intake import assigned_node
from .links import index_links
from ..kernel.models import Case, CaseEvent, FormRecord, Participant, Track
from .derived import refresh_derived
from ..kernel.records import current_records, facts_for, new_record
from ..kernel.timeline import append_event
from .validation import checked_values

INACTIVE_NODE = Text("Ese nodo no existe o no está activo.", "That node does not exist or is not active.")


def fire_transition(ctx: Context, user: User, reference: str, key: str, values: Mapping[str, Any] | None,
                    expected_version: int) -> CaseEvent:
    """Fire transition `key` on the case; raise TransitionRefused, InvalidInput or StaleCase."""
    case, actor = open_case(ctx, user, reference)
    claim_version(ctx, case, expected_version)
    facts = facts_for(ctx, case)
    transition = ctx.engine.check(key, facts, actor, None)  # who, when, guards: before reading input
    clean: dict[str, Any] = {}
    record = None
    if transition.form is not None:
        clean = checked_values(ctx, ctx.definition.form(transition.form), values or {}, final=True)
        ctx.engine.check(key, facts, actor, clean)  # guards that read the input
    records = current_records(ctx, case)
    if transition.form is not None:
        record = _record_input(ctx, case, user, transition.form, clean)
        index_links(ctx, case, transition.form, clean)
    for effect in transition.effects:
        if effect.when is not None and effect.when.evaluate(facts, clean) is not True:
            continue
        _apply(ctx, case, effect, clean, records)
    if record is not None and transition.form in ctx.definition.statistics.forms():
        # the step's own form is counted (e.g. a qualification recorded at triage): project it now
        refresh_derived(ctx, case, {**current_records(ctx, case), transition.form: record})
    if any(effect.kind == "add_participant" for effect in transition.effects):
        sync_wraps(ctx, case)  # a node that joined gets the case key
    from_state, to_state = _move(ctx, case, transition)
    event = append_event(ctx, case, user, kind="transition", action=key, machine=transition.machine,
                         from_state=from_state, to_state=to_state, record=record)
    project_transition(ctx, case, transition, clean)
    on_occurrence(ctx, case, Occurrence.of_transition(transition, from_state, to_state, user.node.org_type, clean))
    ctx.session.flush()
    return event


def check_transition(ctx: Context, user: User, reference: str, key: str) -> tuple[Case, Transition]:
    """The case and transition if the user may fire it now (its input not yet typed), else refuse."""
    case, actor = open_case(ctx, user, reference)
    return case, ctx.engine.check(key, facts_for(ctx, case), actor, None)


def _record_input(ctx: Context, case: Case, user: User, form_key: str, values: Mapping[str, Any]) -> FormRecord:
    form = ctx.definition.form(form_key)
    last = ctx.session.scalar(
        select(func.max(FormRecord.revision)).where(FormRecord.case_id == case.id, FormRecord.form_key == form_key)
    )
    for previous in ctx.session.scalars(
        select(FormRecord).where(FormRecord.case_id == case.id, FormRecord.form_key == form_key, FormRecord.current)
    ):
        previous.current = False
    return new_record(ctx, case, user, form, values, revision=(last or 0) + 1, status="submitted", complete=True)


def _move(ctx: Context, case: Case, transition: Transition) -> tuple[str | None, str]:
    now = ctx.now()
    if transition.machine == "":
        from_state = case.state
        if not transition.stays:
            case.state = transition.target
            case.state_changed_at = now
        return from_state, case.state
    track = ctx.session.get(Track, (case.id, transition.machine))
    if track is None:
        ctx.session.add(Track(case_id=case.id, track=transition.machine, state=transition.target,
                              started_at=now, updated_at=now))
        return None, transition.target
    from_state = track.state
    if not transition.stays:
        track.state = transition.target
        track.updated_at = now
    return from_state, track.state


def _apply(ctx: Context, case: Case, effect: Effect, values: Mapping[str, Any],
           records: Mapping[str, FormRecord]) -> None:
    now = ctx.now()
    if effect.kind == "add_participant":
        _add_participant(ctx, case, effect, values)
        return
    record = records.get(effect.form)
    if record is None:  # the definition's guards should have ensured the form exists
        raise TransitionRefused("guard", Text("Falta el formulario requerido.", "The required form is missing."))
    if effect.kind == "submit_form":
        record.status, record.submitted_at = "submitted", now
    elif effect.kind == "approve_form":
        record.status, record.reviewed_at = "approved", now
    elif effect.kind == "return_form":
        record.status, record.reviewed_at = "returned", now


def _add_participant(ctx: Context, case: Case, effect: Effect, values: Mapping[str, Any]) -> None:
    if effect.node_input:
        raw = values.get(effect.node_input)
        node = ctx.session.get(Node, int(raw)) if isinstance(raw, str) and raw.isdigit() else None
        if node is None or not node.active:
            raise InvalidInput({effect.node_input: [INACTIVE_NODE]})
        node_id: int | None = node.id
    else:
        node_id = assigned_node(ctx, effect.assignment, case.region_code)
        if node_id is None:
            label = ctx.definition.assignments[effect.assignment].label
            raise TransitionRefused("guard", Text(
                f"Ningún nodo tiene asignada la función «{label.es}»; pida a un administrador configurarla.",
                f"No node holds the function «{label.get('en')}»; ask an administrator to assign it.",
            ))
    exists = ctx.session.scalar(select(Participant.id).where(
        Participant.case_id == case.id, Participant.node_id == node_id,
        Participant.relation == effect.relation, Participant.active,
    ))
    if exists is None:
        ctx.session.add(Participant(case_id=case.id, node_id=node_id, relation=effect.relation, since=ctx.now()))
