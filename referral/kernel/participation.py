"""A node's relations to a case begin and end here, and its key wraps follow (routing = re-wrapping)."""

from __future__ import annotations

from sqlalchemy import select

from ..context import Context
from .keystore import sync_wraps
from .models import Case, Participant


def end_participation(ctx: Context, case: Case, node_id: int, relation: str) -> bool:
    """End a node's live relation to the case (a referral ended, refused or revoked; a role handed on).

    If it was the node's last live relation, its wrap of the case key is deleted in the same
    transaction: from the commit on, the node cannot decrypt the case. Returns whether a relation ended.
    """
    rows = ctx.session.scalars(select(Participant).where(
        Participant.case_id == case.id, Participant.node_id == node_id, Participant.relation == relation,
        Participant.active)).all()
    for row in rows:
        row.active, row.until = False, ctx.now()
    if rows:
        sync_wraps(ctx, case)
    return bool(rows)


def end_participant(ctx: Context, case: Case, participant_id: int) -> bool:
    """End one participant row (an emergency access), not every row of its relation; wraps follow."""
    row = ctx.session.get(Participant, participant_id)
    if row is None or row.case_id != case.id or not row.active:
        return False
    row.active, row.until = False, ctx.now()
    sync_wraps(ctx, case)
    return True
