"""Reads of a case's personal data are audit events too: the views that decrypt and show a case call
`audit_read`, which records and commits that one event (a GET commits nothing else)."""

from __future__ import annotations

from sqlalchemy import select

from ..auth.models import User
from ..cases.models import Case
from ..context import Context
from .service import record


def audit_read(ctx: Context, user: User, reference: str, page: str, *, subject: str | None = None,
               revision: int | None = None) -> None:
    case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference))
    if case_id is None:
        return
    record(ctx, "read", role=user.role, node_id=user.node_id, case_id=case_id, subject=subject,
           details={"page": page, "revision": revision})
    ctx.session.commit()
