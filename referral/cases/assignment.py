"""The person responsible for a case within a node («responsable»): assignment, «Tomar el caso» for
oneself, reassignment with a reason, and who is told of a case's clocks first. [producto] issue 16 item 4.

Within a node, a case has at most one responsible person at a time (`case_assignments`, the current row has
no `ended_at`). Who may assign: an active member of the node who may open cases and manages the node
(`manages_node`) or whose role has the `assign_cases` capability; anyone of the node who may open cases
takes an unassigned case for herself. Only an active member of the same node whose role may open cases can
be made responsible. Reassignment names a reason from a list of codes; no free text is kept, so nothing
personal can reach the database in clear or the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, exists, select

from ..audit.service import record
from ..auth.models import User
from ..context import Context
from ..workflow import Text
from ..kernel.access import has_capability, may_open_cases, open_case
from ..kernel.errors import AccessDenied, InvalidInput, StaleCase
from ..kernel.models import Case, CaseAssignment
from .reading import Reader
from ..kernel.claims import claim_version

ASSIGN_CASES = "assign_cases"
AUDIT_EVENT = "case.assign"

# Why a case passes from one person to another [producto]: codes only, so the audit trail can say why.
REASONS: dict[str, Text] = {
    "carga_de_trabajo": Text("Distribución de la carga de trabajo", "Workload balance"),
    "ausencia": Text("Ausencia, licencia o vacaciones de la persona responsable",
                     "Absence, leave or holidays of the responsible person"),
    "especialidad": Text("El caso requiere otra especialidad o experiencia",
                         "The case needs another speciality or experience"),
    "solicitud_persona": Text("A pedido de la persona atendida", "At the request of the person assisted"),
    "salida_del_nodo": Text("La persona responsable deja el nodo", "The responsible person leaves the node"),
    "otro": Text("Otro motivo", "Other reason"),
}

NOT_ELIGIBLE = Text("Elija a una persona activa de su nodo que pueda abrir casos.",
                    "Choose an active member of your node who may open cases.")
ALREADY = Text("Esa persona ya es la responsable del caso en su nodo.",
               "That person is already responsible for the case at your node.")
REASON_NEEDED = Text("Indique el motivo del cambio de responsable.", "Give the reason for the change.")
UNKNOWN_REASON = Text("Elija un motivo de la lista.", "Choose a reason from the list.")


def current_assignment(ctx: Context, case_id: uuid.UUID, node_id: int) -> CaseAssignment | None:
    return ctx.session.scalar(select(CaseAssignment).where(
        CaseAssignment.case_id == case_id, CaseAssignment.node_id == node_id, CaseAssignment.ended_at.is_(None)))


def may_assign(ctx: Context, user: User) -> bool:
    """Whether the user may make anyone of her node responsible for the node's cases."""
    return may_open_cases(ctx, user) and (user.manages_node or has_capability(ctx, user, ASSIGN_CASES))


def _eligible(ctx: Context, node_id: int) -> Select[tuple[User]]:
    return select(User).where(User.node_id == node_id, User.active,
                              User.role.in_(ctx.definition.roles_with("case_access")))


def eligible_people(ctx: Context, node_id: int) -> list[User]:
    """Who at the node may be made responsible for a case: active, and her role may open cases."""
    return list(ctx.session.scalars(_eligible(ctx, node_id).order_by(User.display_name, User.id)))


def check_assign(ctx: Context, user: User, reference: str) -> Case:
    """The case, if the user may name its responsible person at her node (or take it, while nobody is):
    else AccessDenied (no live relation of her node, or neither right). Asked before any form is read."""
    case, _actor = open_case(ctx, user, reference)
    if not may_assign(ctx, user) and current_assignment(ctx, case.id, user.node_id) is not None:
        raise AccessDenied()
    return case


def assign(ctx: Context, user: User, reference: str, assignee_id: int, reason: str | None,
           expected_version: int) -> CaseAssignment:
    """Make `assignee_id` responsible for the case at the user's own node. The caller commits.

    AccessDenied: the user's node holds no live relation to the case, or she may neither assign nor
    take this case (it has a responsible person already, or she names someone else). InvalidInput: the
    person is not an eligible member of the node, is responsible already, or a reassignment has no
    reason from the list. StaleCase: the page was out of date (a double click)."""
    case, _actor = open_case(ctx, user, reference)
    node_id = user.node_id  # a user acts for her own node only: never within another node's participation
    current = current_assignment(ctx, case.id, node_id)
    if not may_assign(ctx, user) and (assignee_id != user.id or current is not None):
        raise AccessDenied()
    if case.version != expected_version:  # a second click finds the case changed by the first: 409
        raise StaleCase()
    assignee = ctx.session.scalar(_eligible(ctx, node_id).where(User.id == assignee_id))
    if assignee is None:
        raise InvalidInput({"responsable": [NOT_ELIGIBLE]})
    if current is not None and current.user_id == assignee.id:
        raise InvalidInput({"responsable": [ALREADY]})
    reason = reason or None
    if reason is not None and reason not in REASONS:
        raise InvalidInput({"motivo": [UNKNOWN_REASON]})
    if current is not None and reason is None:
        raise InvalidInput({"motivo": [REASON_NEEDED]})
    claim_version(ctx, case, expected_version)
    now = ctx.now()
    if current is not None:
        current.ended_at = now
        ctx.session.flush()  # the old row leaves "current" before the new one arrives (unique index)
    row = CaseAssignment(case_id=case.id, node_id=node_id, user_id=assignee.id, assigned_at=now,
                         assigned_by_user_id=user.id, reason=reason if current is not None else None)
    ctx.session.add(row)
    record(ctx, AUDIT_EVENT, role=user.role, node_id=node_id, case_id=case.id, subject=str(assignee.id),
           details={"previous": current.user_id if current is not None else None, "reason": row.reason})
    ctx.session.flush()
    return row


def responsible_filter(user: User) -> ColumnElement[bool]:
    """SQL for "the user is the current responsible person of the case at her node"."""
    return exists(select(CaseAssignment.id).where(
        CaseAssignment.case_id == Case.id, CaseAssignment.user_id == user.id,
        CaseAssignment.node_id == user.node_id, CaseAssignment.ended_at.is_(None)))


def responsible_ids(ctx: Context, case_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, int], int]:
    """(case, node) -> the current responsible person's user id, for these cases."""
    ids = sorted(set(case_ids))
    found: dict[tuple[uuid.UUID, int], int] = {}
    for start in range(0, len(ids), 500):
        for case_id, node_id, user_id in ctx.session.execute(
                select(CaseAssignment.case_id, CaseAssignment.node_id, CaseAssignment.user_id).where(
                    CaseAssignment.case_id.in_(ids[start:start + 500]), CaseAssignment.ended_at.is_(None))):
            found[(case_id, node_id)] = user_id
    return found


# -- the case page's block ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssignmentPanel:
    responsible: str | None  # the responsible person's name, or None (unassigned)
    since: str  # when she was made responsible, in local time; "" if nobody is
    mine: bool  # the user herself is responsible
    may_take: bool  # «Tomar el caso»: unassigned, and she may open cases
    may_assign: bool
    people: tuple[tuple[int, str], ...]  # whom she may make responsible (everyone eligible but the current one)
    reasons: tuple[tuple[str, str], ...]
    version: int


def assignment_panel(ctx: Context, user: User, case_id: uuid.UUID, version: int, language: str) -> AssignmentPanel:
    """The «Responsable» block of a case page the user may open (the caller has checked that)."""
    current = current_assignment(ctx, case_id, user.node_id)
    holder = ctx.session.get(User, current.user_id) if current is not None else None
    assigning = may_assign(ctx, user)
    people = tuple((p.id, p.display_name) for p in eligible_people(ctx, user.node_id)
                   if holder is None or p.id != holder.id) if assigning else ()
    return AssignmentPanel(
        responsible=holder.display_name if holder is not None else None,
        since=Reader(ctx, language).local(current.assigned_at) if current is not None else "",
        mine=holder is not None and holder.id == user.id,
        may_take=current is None and may_open_cases(ctx, user), may_assign=assigning, people=people,
        reasons=tuple((code, text.get(language)) for code, text in REASONS.items()), version=version,
    )
