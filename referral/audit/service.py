"""Appending to the audit log, case pseudonyms, and verifying the chain.

`record` runs inside the transaction of the step it records (a step rolled back leaves no event); the
transaction's events are chained at its commit, under the chain head's lock, so that events are numbered and
chained one after another and concurrent steps wait for each other only for the append. A read of a
case's personal data is recorded by the view that shows it, which commits that one event.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event as orm_events, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session

from ..context import Context
from ..kernel.key_models import VaultSecret
from ..kernel.keystore import vault_secret
from .chain import Broken, canonical, link
from .models import GENESIS, AuditEvent, AuditHead
from .verifying import join, spans, walk_span, walk_spans_in_processes

PSEUDONYM_SECRET = "audit-pseudonym"
HEAD_ID = 1
PENDING = "referral.audit.pending"  # Session.info: events recorded in this transaction, chained at its commit
HELD = "referral.audit.held"  # Session.info: (root transaction, head) while that transaction holds the head's lock


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


def _secret_column(column: Any) -> Any:
    return select(column).where(VaultSecret.name == PSEUDONYM_SECRET).scalar_subquery()


def _head(ctx: Context) -> AuditHead:
    """The chain's head, locked for this transaction: concurrent appends take their turn here.

    PostgreSQL locks the row (`SELECT ... FOR UPDATE`). SQLite ignores `FOR UPDATE`, and pysqlite (legacy
    transaction mode) sends BEGIN only before the first INSERT/UPDATE/DELETE, so a plain read of the
    head runs outside any transaction and two requests would read the same head and then collide on
    `seq`. There a no-op UPDATE of the head takes the database's write lock (beginning the
    transaction if none is open, waiting up to the busy timeout for another writer) and returns the head
    read under it (`RETURNING`, one statement). A transaction that has already written holds that lock, so
    it does not wait; one that has not begins with this write, so its snapshot is taken once the lock is
    its own and cannot be stale (no SQLITE_BUSY_SNAPSHOT). The row is re-read even if this session holds it
    already (sessions keep objects across commits), so the values are the current ones.

    The same statement brings the wrapped pseudonym secret (issue 17: one statement, not two): it is read
    from its row at every append, as before, so a re-wrap by `flask keys rotate-master` or another
    database is seen at once; only its opening is kept, for this unit of work (`ctx.keycache`).
    """
    session = ctx.session
    held = session.info.get(HELD)
    if held is not None and held[0] is session.get_transaction():
        return held[1]  # this transaction holds the head's lock already: its values are the ones it wrote
    wrapped, master = _secret_column(VaultSecret.wrapped), _secret_column(VaultSecret.master_key_id)
    if session.get_bind().dialect.name == "sqlite":
        query: Any = (update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq)
                      .returning(AuditHead, wrapped, master)
                      .execution_options(synchronize_session=False, populate_existing=True))
    else:
        query = (select(AuditHead, wrapped, master).where(AuditHead.id == HEAD_ID).with_for_update(of=AuditHead)
                 .execution_options(populate_existing=True))
    row = session.execute(query).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(AuditHead(id=HEAD_ID, seq=0, hash=GENESIS))
        except IntegrityError:
            pass
        row = session.execute(query).first()
        assert row is not None
    head, secret_wrapped, secret_master = row
    if "audit" not in ctx.keycache and secret_wrapped is not None and secret_master is not None:
        ctx.keycache["audit"] = ctx.vault.open_secret(PSEUDONYM_SECRET, secret_wrapped, secret_master)
    found: AuditHead = head
    session.info[HELD] = (session.get_transaction(), found)
    return found


@orm_events.listens_for(Session, "after_commit")
@orm_events.listens_for(Session, "after_soft_rollback")
def _released(session: Session, *_: Any) -> None:
    """The head's lock ends with the transaction (or may have ended with a savepoint rolled back): the next
    append locks and reads it again."""
    session.info.pop(HELD, None)


def record(ctx: Context, action: str, *, role: str | None = None, node_id: int | None = None,
           case_id: uuid.UUID | None = None, subject: str | None = None,
           details: Mapping[str, Any] | None = None) -> None:
    """Append one event to the caller's transaction. `details` holds codes only, never free text.

    The event is chained when the transaction commits (or before a query of the audit log in it): the chain's
    head is locked for as short a time as possible, after everything else the transaction writes (a step's
    worklist rows included), so concurrent steps wait for each other only for the append itself."""
    clean = {k: v for k, v in (details or {}).items() if v is not None}
    ctx.session.info.setdefault(PENDING, []).append((ctx, ctx.now(), action, role, node_id, case_id, subject, clean))


def _append_pending(session: Session) -> None:
    """Chain and write the transaction's pending events, in the order they were recorded, under the head's lock."""
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    head = _head(pending[0][0])
    for ctx, at, action, role, node_id, case_id, subject, clean in pending:
        seq = head.seq + 1
        case_pseudonym = pseudonym(ctx, case_id) if case_id is not None else None
        body = canonical(seq, at, action, role, node_id, case_pseudonym, subject, clean)
        event = AuditEvent(seq=seq, at=at, action=action, actor_role=role, actor_node_id=node_id,
                           case_pseudonym=case_pseudonym, subject=subject, details=clean, prev_hash=head.hash,
                           hash=link(head.hash, body))
        session.add(event)
        head.seq, head.hash = seq, event.hash
    session.flush()


@orm_events.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    session.flush()  # the transaction's own writes (and what their listeners add) first, then the append
    _append_pending(session)


@orm_events.listens_for(Session, "do_orm_execute")
def _before_reading_the_log(state: ORMExecuteState) -> None:
    """A query of the audit log in a transaction that recorded events sees them, as it would a flushed row."""
    if state.session.info.get(PENDING) and state.is_select and \
            any(m.class_ in (AuditEvent, AuditHead) for m in state.all_mappers):
        _append_pending(state.session)


@orm_events.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: Any) -> None:
    """A step rolled back (or a session closed without its commit) leaves no event."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)


def verify_log(session: Session, batch: int = 20000, workers: int = 1) -> tuple[int, Broken | None]:
    """Check the whole chain; (events checked, first broken link or None), the same whatever `workers`.

    With `workers` > 1 the chain is cut into that many contiguous ranges, each checked by its own
    process on its own connection (referral/audit/verifying.py says why the answer is the single
    walk's); each reads its events `batch` at a time. A database a second process cannot open (SQLite
    in memory) is checked in this process."""
    head = session.scalar(select(AuditHead).where(AuditHead.id == HEAD_ID))
    head_seq, head_hash = (head.seq, bytes(head.hash)) if head is not None else (0, GENESIS)
    top = max(head_seq, session.scalar(select(func.max(AuditEvent.seq))) or 0)
    bind = session.get_bind()
    dialect = bind.dialect.name
    url = bind.engine.url
    in_memory = dialect == "sqlite" and url.database in (None, "", ":memory:")
    parts = spans(top, workers if not in_memory else 1)
    if len(parts) == 1:
        connection = session.connection().connection.driver_connection
        walked = [walk_span(connection, dialect, parts[0], batch)]
    else:
        walked = walk_spans_in_processes(url.render_as_string(hide_password=False), parts, batch, workers)
    return join(list(zip(parts, walked, strict=True)), head_seq, head_hash)
