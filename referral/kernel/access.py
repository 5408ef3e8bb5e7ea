"""Who may open a case: deny by default; a node reads a case only through a live relation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, joinedload

from ..audit.models import AuditEvent, AuditHead
from ..auth.models import User
from ..context import Context
from ..workflow import Actor
from .errors import AccessDenied, CaseNotFound
from .models import Case, Participant, live_participant

_AUDIT = (AuditEvent, AuditHead)  # what a read writes


def relations_of(ctx: Context, node_id: int, case: Case) -> frozenset[str]:
    """The live relations of a node to a case."""
    return frozenset(ctx.session.scalars(
        select(Participant.relation).where(
            Participant.case_id == case.id, Participant.node_id == node_id, live_participant(ctx.now())
        )
    ))


def actor_for(ctx: Context, user: User, case: Case) -> Actor:
    return Actor(role=user.role, relations=relations_of(ctx, user.node_id, case))


def has_capability(ctx: Context, user: User, capability: str) -> bool:
    """Whether an active user's role has `capability` in the workflow definition."""
    role = ctx.definition.roles.get(user.role)
    return bool(user.active and role and capability in role.capabilities)


def may_open_cases(ctx: Context, user: User) -> bool:
    return has_capability(ctx, user, "case_access")


WRITES = "referral.writes"  # in Session.info: how many flushes, commits and rollbacks the session has seen


def pending_writes(session: Session) -> bool:
    """Whether the session holds changes not yet flushed, other than audit events and the chain's head (a read
    appends those; they change no case, relation or referral)."""
    return any(not isinstance(o, _AUDIT) for o in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if pending_writes(session):  # (after_flush still sees what the flush wrote)
        _written(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _written(session: Session, *_: Any) -> None:
    session.info[WRITES] = session.info.get(WRITES, 0) + 1


@event.listens_for(Session, "do_orm_execute")
def _bulk_written(state: ORMExecuteState) -> None:
    """An UPDATE, DELETE or INSERT sent through the session without a flush (`session.execute(update(...))`);
    the audit chain's head locked for an append (SQLite) is not one."""
    if (state.is_update or state.is_delete or state.is_insert) and \
            not (state.bind_mapper is not None and state.bind_mapper.class_ in _AUDIT):
        _written(state.session)


def open_case(ctx: Context, user: User, reference: str, *, for_update: bool = False) -> tuple[Case, Actor]:
    """Load a case the user may see, with the user's actor; raise CaseNotFound or AccessDenied.

    A page that shows several sections of one case (issue 17) opens it once: a second read-only call in
    the same unit of work, by the same user, node and role, with nothing written, flushed, committed or
    rolled back since the first, answers from `ctx.opened` (the case row and the live relations read
    then). Any write in between, or `for_update`, reads the database again."""
    if not may_open_cases(ctx, user):
        raise AccessDenied()
    key = (user.id, user.node_id, user.role, reference)
    session = ctx.session
    generation = session.info.get(WRITES, 0)
    if not for_update and not pending_writes(session):
        hit = ctx.opened.get(key)
        if hit is not None and hit[0] == generation:
            ctx.act_as(user.node_id)
            return hit[1], hit[2]
    query = select(Case).where(Case.reference == reference)
    if for_update:
        query = query.with_for_update()
    else:  # the region's name (the page's header) comes with the row; not under FOR UPDATE (an outer join)
        query = query.options(joinedload(Case.region))
    case = ctx.session.scalar(query)
    if case is None:
        raise CaseNotFound()
    actor = actor_for(ctx, user, case)
    if not actor.relations:
        raise AccessDenied()
    ctx.act_as(user.node_id)  # its case key opens only through this node's own wrap
    ctx.opened[key] = (session.info.get(WRITES, 0), case, actor)
    return case, actor
