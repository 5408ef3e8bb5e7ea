"""Appending to the audit log, case pseudonyms, and verifying the chain.

`record` runs inside the transaction of the step it records (a step rolled back leaves no event), and
locks the chain's head so that events are numbered and chained one after another. A read of a
case's personal data is recorded by the view that shows it, which commits that one event.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Context
from ..keys.store import vault_secret
from .chain import Broken, canonical, link, verify
from .models import GENESIS, AuditEvent, AuditHead

PSEUDONYM_SECRET = "audit-pseudonym"
HEAD_ID = 1


def pseudonym_key(ctx: Context) -> bytes:
    """The installation's pseudonym secret (opened once per unit of work)."""
    key = ctx.keycache.get("audit")
    if key is None:
        key = ctx.keycache["audit"] = vault_secret(ctx, PSEUDONYM_SECRET)
    return key


def pseudonym(ctx: Context, case_id: uuid.UUID) -> str:
    """A case's stable name in the audit log: a keyed hash of its id, not reversible without the key,
    and unrelated to its reference (which staff see)."""
    return hmac.new(pseudonym_key(ctx), case_id.bytes, hashlib.sha256).hexdigest()[:24]


def _head(session: Session) -> AuditHead:
    """The chain's head, locked for this transaction: concurrent appends take their turn here.

    PostgreSQL locks the row (`FOR UPDATE`). SQLite ignores `FOR UPDATE`, and pysqlite (legacy
    transaction mode) sends BEGIN only before the first INSERT/UPDATE/DELETE, so a plain read of the
    head runs outside any transaction and two requests would read the same head and then collide on
    `seq`. There a no-op UPDATE of the head first takes the database's write lock (beginning the
    transaction if none is open, waiting up to the busy timeout for another writer), and the head is
    read under it. A transaction that has already written holds that lock, so it does not wait; one
    that has not begins with this write, so its snapshot is taken once the lock is its own and cannot
    be stale (no SQLITE_BUSY_SNAPSHOT). The row is re-read even if this session holds it already
    (sessions keep objects across commits), so the values are the current ones.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq)
                        .execution_options(synchronize_session=False))
    query = (select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
             .execution_options(populate_existing=True))
    head = session.scalar(query)
    if head is not None:
        return head
    try:
        with session.begin_nested():
            session.add(AuditHead(id=HEAD_ID, seq=0, hash=GENESIS))
    except IntegrityError:
        pass
    found = session.scalar(query)
    assert found is not None
    return found


def record(ctx: Context, action: str, *, role: str | None = None, node_id: int | None = None,
           case_id: uuid.UUID | None = None, subject: str | None = None,
           details: Mapping[str, Any] | None = None) -> AuditEvent:
    """Append one event (in the caller's transaction). `details` holds codes only, never free text."""
    head = _head(ctx.session)
    at = ctx.now()
    seq = head.seq + 1
    case_pseudonym = pseudonym(ctx, case_id) if case_id is not None else None
    clean = {k: v for k, v in (details or {}).items() if v is not None}
    body = canonical(seq, at, action, role, node_id, case_pseudonym, subject, clean)
    event = AuditEvent(seq=seq, at=at, action=action, actor_role=role, actor_node_id=node_id,
                       case_pseudonym=case_pseudonym, subject=subject, details=clean, prev_hash=head.hash,
                       hash=link(head.hash, body))
    ctx.session.add(event)
    head.seq, head.hash = seq, event.hash
    ctx.session.flush()
    return event


def _events(session: Session, batch: int) -> Iterator[Any]:
    """Events as plain rows (no ORM objects: 4 million of them must check in well under a minute)."""
    columns = (AuditEvent.seq, AuditEvent.at, AuditEvent.action, AuditEvent.actor_role, AuditEvent.actor_node_id,
               AuditEvent.case_pseudonym, AuditEvent.subject, AuditEvent.details, AuditEvent.prev_hash,
               AuditEvent.hash)
    last = 0
    while True:
        rows = session.execute(select(*columns).where(AuditEvent.seq > last).order_by(AuditEvent.seq)
                               .limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _driver_events(session: Session, batch: int) -> Iterator[Any]:
    """PostgreSQL: the same rows straight from psycopg, `details` as its stored text (psycopg's own JSON
    decoding and SQLAlchemy's row processing cost more than the hashing, at millions of events)."""
    from psycopg.rows import namedtuple_row

    connection = session.connection().connection.driver_connection
    sql = ("SELECT seq, at, action, actor_role, actor_node_id, case_pseudonym, subject, details::text AS details, "
           "prev_hash, hash FROM audit_events WHERE seq > %s ORDER BY seq LIMIT %s")
    last = 0
    with connection.cursor(row_factory=namedtuple_row) as cursor:  # type: ignore[union-attr]
        while True:
            rows = cursor.execute(sql, (last, batch)).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq


def verify_log(session: Session, batch: int = 20000) -> tuple[int, Broken | None]:
    """Check the whole chain, in batches; (events checked, first broken link or None)."""
    head = session.scalar(select(AuditHead).where(AuditHead.id == HEAD_ID))
    head_seq, head_hash = (head.seq, bytes(head.hash)) if head is not None else (0, GENESIS)
    events = _driver_events if session.get_bind().dialect.name == "postgresql" else _events
    return verify(events(session, batch), head_seq, head_hash)
