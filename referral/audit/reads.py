"""Reads of a case's personal data are audit events too: the views that decrypt and show a case call
`audit_read`, which records and commits that one event (a GET commits nothing else)."""

from __future__ import annotations

import uuid

from ..auth.models import User
from ..context import Context
from .service import record


def audit_read(ctx: Context, user: User, case_id: uuid.UUID, page: str, *, subject: str | None = None,
               revision: int | None = None, compared_with: int | None = None) -> None:
    record(ctx, "read", role=user.role, node_id=user.node_id, case_id=case_id, subject=subject,
           details={"page": page, "revision": revision, "compared_with": compared_with})
    ctx.session.commit()
