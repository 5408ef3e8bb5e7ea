"""Who may open a case: deny by default; a node reads a case only through a live relation."""

from __future__ import annotations

from sqlalchemy import select

from ..auth.models import User
from ..context import Context
from ..workflow import Actor
from .errors import AccessDenied, CaseNotFound
from .models import Case, Participant, live_participant


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


def open_case(ctx: Context, user: User, reference: str, *, for_update: bool = False) -> tuple[Case, Actor]:
    """Load a case the user may see, with the user's actor; raise CaseNotFound or AccessDenied."""
    if not may_open_cases(ctx, user):
        raise AccessDenied()
    query = select(Case).where(Case.reference == reference)
    if for_update:
        query = query.with_for_update()
    case = ctx.session.scalar(query)
    if case is None:
        raise CaseNotFound()
    actor = actor_for(ctx, user, case)
    if not actor.relations:
        raise AccessDenied()
    ctx.act_as(user.node_id)  # its case key opens only through this node's own wrap
    return case, actor
