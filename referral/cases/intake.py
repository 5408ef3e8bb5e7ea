"""Filing the intake form (the Ficha): it creates the case, its key and its first participants."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..auth.models import User
from ..clocks.service import on_occurrence
from ..context import Context
from ..kernel.keystore import create_case_key, sync_wraps
from ..network.models import Assignment
from ..workflow.clocks import Occurrence
from ..workflow.definition import ACTOR_NODE
from ..workflow.forms import REQUIRED
from ..kernel.access import has_capability, may_open_cases
from .duplicates import index_case
from ..kernel.errors import AccessDenied, DuplicateSubmission, InvalidInput
from ..kernel.models import Case, CaseTombstone, Participant
from .derived import refresh_derived
from ..kernel.records import new_record
from ..kernel.timeline import append_event
from .validation import checked_values

log = logging.getLogger(__name__)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_reference() -> str:
    """A random case reference such as TP-7KQ2-9XHF: says nothing about the person or the count."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"TP-{body[:4]}-{body[4:]}"


def may_file_intake(ctx: Context, user: User) -> bool:
    return has_capability(ctx, user, "file_intake")


def file_intake(ctx: Context, user: User, values: Mapping[str, Any], intake_token: str) -> Case:
    """Open a case from a complete intake form; a repeated token means a double submission."""
    if not may_file_intake(ctx, user) or not may_open_cases(ctx, user):
        raise AccessDenied()
    definition = ctx.definition
    form = definition.form(definition.intake.form)
    values = checked_values(ctx, form, values, final=True)
    existing = ctx.session.scalar(select(Case.reference).where(Case.intake_token == intake_token))
    if existing is not None:
        raise DuplicateSubmission(existing)
    region_code = values.get(definition.intake.region_field) or definition.intake.region_fallback
    if not region_code:
        raise InvalidInput({definition.intake.region_field: [REQUIRED]})
    ctx.act_as(user.node_id)
    now = ctx.now()
    case = Case(
        id=uuid.uuid4(), reference=_unused_reference(ctx), workflow=definition.key,
        workflow_version=definition.version, state=definition.intake.state,
        region_code=region_code, detecting_node_id=user.node_id,
        intake_token=intake_token, flags={}, priority=0, version=1, created_at=now, updated_at=now, state_changed_at=now,
    )
    try:
        with ctx.session.begin_nested():  # a savepoint: a lost race on the token leaves the rest intact
            ctx.session.add(case)
            ctx.session.flush()
    except IntegrityError:
        existing = ctx.session.scalar(select(Case.reference).where(Case.intake_token == intake_token))
        if existing is None:
            raise
        raise DuplicateSubmission(existing) from None
    create_case_key(ctx, case)
    record = new_record(ctx, case, user, form, values, revision=1, status="submitted", complete=True)
    index_case(ctx, case, form.key, values)
    _add_intake_participants(ctx, case, user)
    sync_wraps(ctx, case)
    refresh_derived(ctx, case, {form.key: record})
    append_event(ctx, case, user, kind="intake", action=form.key, to_state=case.state, record=record)
    on_occurrence(ctx, case, Occurrence("", None, case.state, actor_org_type=user.node.org_type))
    ctx.session.flush()
    return case


def _unused_reference(ctx: Context) -> str:
    while True:
        reference = new_reference()
        taken = ctx.session.scalar(select(Case.id).where(Case.reference == reference)) or ctx.session.scalar(
            select(CaseTombstone.id).where(CaseTombstone.reference == reference))  # never reuse an erased one
        if taken is None:
            return reference


def _add_intake_participants(ctx: Context, case: Case, user: User) -> None:
    added: set[tuple[int, str]] = set()
    for rule in ctx.definition.intake.participants:
        if rule.node == ACTOR_NODE:
            node_id: int | None = user.node_id
        else:
            node_id = assigned_node(ctx, rule.assignment, case.region_code)
            if node_id is None:
                # Configuration gap: the case still reaches every other participant; say which.
                log.warning("no node holds assignment %s for region %s", rule.assignment, case.region_code)
                continue
        if (node_id, rule.relation) not in added:
            ctx.session.add(Participant(case_id=case.id, node_id=node_id, relation=rule.relation, since=ctx.now()))
            added.add((node_id, rule.relation))


def assigned_node(ctx: Context, function: str, region_code: str | None) -> int | None:
    """The node holding a network function: the region's own, else the national one."""
    scope = ctx.definition.assignments[function].scope
    region = region_code if scope == "region" else None
    return ctx.session.scalar(
        select(Assignment.node_id).where(Assignment.function == function, Assignment.region_code.is_(None)
                                         if region is None else Assignment.region_code == region)
    )
