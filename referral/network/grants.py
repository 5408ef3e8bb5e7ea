"""Separation of duties for access to cases: nobody gives herself or anyone else the power to read cases.

An administrator proposes; a second person approves. A change that would let an account read cases — a
new account with a role that reads cases (or approves access), a raise to such a role, a move of such an
account to another node, a new e-mail for it (the e-mail is where a password reset goes: changing it is
taking the account), or its reactivation — is an `AccessGrant` in state `pendiente`. It takes effect only
when someone holding `approve_access` (in the workflow: coordinators, at the node holding national
coordination) approves it, and never when that person proposed it or is its subject. Requests expire
after `LIFETIME`. Changes that reduce access take effect at once. Pure services: no Flask; they flush,
the caller commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from ..audit.service import record
from ..auth import tokens
from ..auth.models import User
from ..context import Context
from ..workflow import Text, WorkflowDefinition
from .models import AccessGrant, AccessNotice, Assignment

APPROVE_ACCESS = "approve_access"
CASE_ACCESS = "case_access"
GRANTING = (CASE_ACCESS, APPROVE_ACCESS)  # capabilities only a second person may hand out
PENDING, APPROVED, REJECTED, EXPIRED = "pendiente", "aprobada", "rechazada", "caducada"
STATES = {
    PENDING: Text("Pendiente", "Pending"), APPROVED: Text("Aprobada", "Approved"),
    REJECTED: Text("Rechazada", "Rejected"), EXPIRED: Text("Caducada", "Expired"),
}
LIFETIME = dt.timedelta(days=7)
# What the approver says about her decision: codes, so the audit log and notices carry no free text.
REASONS: Mapping[str, Mapping[str, Text]] = {
    APPROVED: {
        "funciones_verificadas": Text("Funciones verificadas con la institución", "Duties checked with the institution"),
        "designacion_formal": Text("Designación formal recibida", "Formal appointment received"),
    },
    REJECTED: {
        "no_corresponde": Text("El rol no corresponde a sus funciones", "The role does not match the person's duties"),
        "sin_verificar": Text("No se pudo verificar con la institución", "Could not be checked with the institution"),
        "solicitud_erronea": Text("Solicitud errónea", "Request made in error"),
    },
}
# The changes a request may carry, as labels for the pages.
CHANGES = {
    "create": Text("Cuenta nueva", "New account"), "role": Text("Rol", "Role"), "node_id": Text("Nodo", "Node"),
    "email": Text("Correo", "E-mail"), "active": Text("Reactivación", "Reactivation"),
}
NOTICE_EVENTS = ("requested", "approved", "rejected", "expired")


class GrantError(Exception):
    """Base class; `message` is what a user may read, `status` the HTTP answer."""

    message = Text("No se pudo completar la acción.", "The action could not be completed.")
    status = 409

    def __init__(self, message: Text | None = None):
        if message is not None:
            self.message = message
        super().__init__(self.message.en)


class GrantNotFound(GrantError):
    message = Text("No existe esa solicitud.", "There is no such request.")
    status = 404


class NotApprover(GrantError):
    message = Text("Su rol no permite decidir solicitudes de acceso.", "Your role may not decide access requests.")
    status = 403


class OwnRequest(GrantError):
    message = Text("Nadie decide una solicitud que propuso ni una que trata de su propia cuenta: la decide otra "
                   "persona.", "Nobody decides a request she proposed nor one about her own account: someone else "
                   "decides it.")
    status = 403


class GrantClosed(GrantError):
    message = Text("Esta solicitud ya fue decidida o caducó; no se aplicó nada más.",
                   "This request has already been decided or has expired; nothing more was applied.")


class EmailTaken(GrantError):
    message = Text("Otra cuenta usa ya ese correo: la solicitud no puede aprobarse; recházela.",
                   "Another account already uses that e-mail: the request cannot be approved; reject it.")


class UnknownReason(GrantError):
    message = Text("Elija un motivo de la lista.", "Choose a reason from the list.")
    status = 400


@dataclass(frozen=True)
class Decision:
    grant: AccessGrant
    enrolment_token: str | None  # for a new account, approved: to be shown once and forgotten


# -- who may what -------------------------------------------------------------------------------


def node_holds_query(node_id: int, function: str) -> Select[tuple[int]]:
    return select(func.count()).select_from(Assignment).where(Assignment.node_id == node_id,
                                                              Assignment.function == function)


def node_holds(session: Session, node_id: int, function: str) -> bool:
    return bool(session.scalar(node_holds_query(node_id, function)))


def holds_capability(ctx: Context, user: User, capability: str) -> bool:
    """The role's capability, where the workflow ties it to a network function only at the node holding it."""
    role = ctx.definition.roles.get(user.role)
    if not (user.active and role and capability in role.capabilities):
        return False
    function = role.held_at.get(capability)
    return function is None or node_holds(ctx.session, user.node_id, function)


def may_approve(ctx: Context, user: User) -> bool:
    return holds_capability(ctx, user, APPROVE_ACCESS)


def grants_access(definition: WorkflowDefinition, role: str) -> bool:
    """Whether a role reads cases or hands out that power (so giving it takes a second person)."""
    found = definition.roles.get(role)
    return bool(found and set(GRANTING) & found.capabilities)


def requested_changes(definition: WorkflowDefinition, user: User | None, *, role: str, node_id: int, email: str,
                      active: bool) -> dict[str, Any]:
    """The part of an account change that needs approval (empty: it may take effect at once)."""
    if not grants_access(definition, role):
        return {}
    if user is None:
        return {"create": True, "role": role, "node_id": node_id, "active": active}
    changes: dict[str, Any] = {}
    if role != user.role:
        changes["role"] = role
    if node_id != user.node_id:
        changes["node_id"] = node_id
    if email != user.email:
        changes["email"] = True
    if active and not user.active:
        changes["active"] = True
    return changes


def pending_for(session: Session, user_id: int) -> AccessGrant | None:
    return session.scalar(select(AccessGrant).where(AccessGrant.user_id == user_id, AccessGrant.state == PENDING))


# -- proposing, deciding, expiring ----------------------------------------------------------------


def propose(ctx: Context, actor: User, user: User, changes: dict[str, Any], new_email: str | None = None) -> AccessGrant:
    """Record a request (flushed): audited, and told to the managers of the nodes concerned."""
    now = ctx.now()
    grant = AccessGrant(id=uuid.uuid4(), user_id=user.id, proposed_by=actor.id, proposed_at=now,
                        expires_at=now + LIFETIME, changes=changes, new_email=new_email if "email" in changes else None,
                        state=PENDING)
    ctx.session.add(grant)
    ctx.session.flush()
    record(ctx, "account.grant_requested", role=actor.role, node_id=actor.node_id, subject=str(grant.id),
           details={"user": user.id, "changes": sorted(changes), "to_role": changes.get("role"),
                    "to_node": changes.get("node_id")})
    _notify(ctx, grant, user, "requested")
    return grant


def decide(ctx: Context, approver: User, grant_id: uuid.UUID, *, approve: bool, reason: str) -> Decision:
    """Approve or reject a pending request, once: of two decisions sent at once one wins, the other is
    GrantClosed. An approval applies the changes (and, for a new account, issues its enrolment token)."""
    if not may_approve(ctx, approver):
        raise NotApprover()
    grant = ctx.session.get(AccessGrant, grant_id)
    if grant is None:
        raise GrantNotFound()
    if approver.id in (grant.proposed_by, grant.user_id):
        raise OwnRequest()
    state = APPROVED if approve else REJECTED
    if reason not in REASONS[state]:
        raise UnknownReason()
    now = ctx.now()
    won = ctx.session.execute(
        update(AccessGrant).where(AccessGrant.id == grant.id, AccessGrant.state == PENDING, AccessGrant.expires_at > now)
        .values(state=state, decided_by=approver.id, decided_at=now, reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        raise GrantClosed()
    ctx.session.refresh(grant)
    user = ctx.session.get(User, grant.user_id)
    assert user is not None
    token = _apply(ctx, grant, user) if approve else None
    record(ctx, f"account.grant_{'approved' if approve else 'rejected'}", role=approver.role,
           node_id=approver.node_id, subject=str(grant.id), details={"user": user.id, "reason": reason})
    _notify(ctx, grant, user, "approved" if approve else "rejected")
    return Decision(grant, token)


def _apply(ctx: Context, grant: AccessGrant, user: User) -> str | None:
    changes, now = grant.changes, ctx.now()
    if "email" in changes and grant.new_email:
        taken = select(func.count()).select_from(User).where(func.lower(User.email) == grant.new_email, User.id != user.id)
        if ctx.session.scalar(taken):
            raise EmailTaken()
        user.email = grant.new_email
        tokens.end_tokens(ctx.session, user.id, None, now)  # links sent to the old address stop working
    if "role" in changes:
        user.role = str(changes["role"])
    if "node_id" in changes:
        user.node_id = int(changes["node_id"])  # type: ignore[call-overload]
    if changes.get("active"):
        user.active, user.failed_logins, user.locked_until = True, 0, None
    ctx.session.flush()
    return tokens.issue(ctx.session, user, tokens.ENROL, now) if changes.get("create") else None


def expire_due(ctx: Context) -> int:
    """Mark pending requests past their date as expired (audited, told); return how many."""
    now, count = ctx.now(), 0
    due = ctx.session.scalars(select(AccessGrant.id).where(AccessGrant.state == PENDING,
                                                           AccessGrant.expires_at <= now)).all()
    for grant_id in due:
        won = ctx.session.execute(
            update(AccessGrant).where(AccessGrant.id == grant_id, AccessGrant.state == PENDING)
            .values(state=EXPIRED, decided_at=now).execution_options(synchronize_session=False)).rowcount
        if won != 1:
            continue
        grant = ctx.session.get(AccessGrant, grant_id, populate_existing=True)
        assert grant is not None
        record(ctx, "account.grant_expired", subject=str(grant.id), details={"user": grant.user_id})
        user = ctx.session.get(User, grant.user_id)
        if user is not None:
            _notify(ctx, grant, user, "expired")
        count += 1
    return count


def _notify(ctx: Context, grant: AccessGrant, user: User, event: str) -> None:
    """Tell the active managers of the account's node (and of the node it would move to)."""
    nodes = {user.node_id}
    if "node_id" in grant.changes:
        nodes.add(int(grant.changes["node_id"]))  # type: ignore[call-overload]
    managers = ctx.session.scalars(select(User.id).where(User.node_id.in_(nodes), User.manages_node, User.active))
    for manager_id in managers:
        if manager_id not in (user.id, grant.proposed_by):
            ctx.session.add(AccessNotice(id=uuid.uuid4(), user_id=manager_id, grant_id=grant.id, event=event,
                                         created_at=ctx.now()))
    ctx.session.flush()


# -- what the pages read ----------------------------------------------------------------------------


def pending(session: Session, now: dt.datetime) -> Sequence[AccessGrant]:
    return session.scalars(select(AccessGrant).where(AccessGrant.state == PENDING, AccessGrant.expires_at > now)
                           .order_by(AccessGrant.proposed_at)).all()


def recent(session: Session, limit: int = 100) -> Sequence[AccessGrant]:
    return session.scalars(select(AccessGrant).order_by(AccessGrant.proposed_at.desc()).limit(limit)).all()


def pending_count_query(now: dt.datetime) -> Select[tuple[int]]:
    return select(func.count()).select_from(AccessGrant).where(AccessGrant.state == PENDING,
                                                               AccessGrant.expires_at > now)


def pending_count(session: Session, now: dt.datetime) -> int:
    return session.scalar(pending_count_query(now)) or 0


def notices_for(session: Session, user_id: int, limit: int = 20) -> Sequence[AccessNotice]:
    return session.scalars(select(AccessNotice).where(AccessNotice.user_id == user_id)
                           .order_by(AccessNotice.created_at.desc()).limit(limit)).all()


def unread_notices_query(user_id: int) -> Select[tuple[int]]:
    return select(func.count()).select_from(AccessNotice).where(AccessNotice.user_id == user_id,
                                                                AccessNotice.read_at.is_(None))


def unread_notices(session: Session, user_id: int) -> int:
    return session.scalar(unread_notices_query(user_id)) or 0


def mark_notices_read(session: Session, user_id: int, now: dt.datetime) -> None:
    session.execute(update(AccessNotice).where(AccessNotice.user_id == user_id, AccessNotice.read_at.is_(None))
                    .values(read_at=now).execution_options(synchronize_session=False))
