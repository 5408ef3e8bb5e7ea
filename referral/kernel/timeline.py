"""Appending to a case's timeline: one event per step, numbered, inside the step's transaction."""

from __future__ import annotations

from sqlalchemy import func, select

from ..auth.models import User
from ..audit.service import record as audit
from ..context import Context
from .models import Case, CaseEvent, FormRecord


def append_event(ctx: Context, case: Case, user: User, *, kind: str, action: str, machine: str = "",
                 from_state: str | None = None, to_state: str | None = None,
                 record: FormRecord | None = None, subject: str | None = None) -> CaseEvent:
    """Record who (role, node) did what to the case; the sequence number orders the timeline."""
    last = ctx.session.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id))
    event = CaseEvent(
        case_id=case.id, seq=(last or 0) + 1, occurred_at=ctx.now(), actor_user_id=user.id,
        actor_role=user.role, actor_node_id=user.node_id, kind=kind, action=action, machine=machine,
        from_state=from_state, to_state=to_state, form_record_id=record.id if record else None, subject=subject,
    )
    ctx.session.add(event)
    audit(ctx, f"{kind}.{action}", role=user.role, node_id=user.node_id, case_id=case.id, subject=subject,
           details={"machine": machine or None, "from": from_state, "to": to_state})
    return event
