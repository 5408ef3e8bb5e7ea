"""The database's change generation: a number every transaction that writes case or network data raises.

What the navigation shows on every page (its worklists' sizes, pending referrals, unread notifications) costs a
few statements over tens of thousands of rows at national scale. `referral.web.nav` keeps those counts per user
and reuses them while the generation is the one they were counted at (and for at most `MAX_AGE`): one primary-key
read instead of the counts. Any transaction that writes a table outside `QUIET` (cases, participants, referrals,
forms, clocks, notifications, grants, nodes...) raises the generation when it commits, in the same transaction,
so a count is never reused after a step that may change it, whichever process or worker took the step.

`QUIET` tables are written by requests that change no count: reading a case appends to the audit log, signing
in touches the session, the second factor and the user's row (what of a user a count depends on, her node, role
and whether she manages her node, is part of the cache's key instead). Nothing here is personal; the row is one integer.

Engine events see every statement, whether it came from the ORM, `session.execute(update(...))` or Core on a
connection; a statement is looked at only until the transaction has written something that counts.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, event, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base

GENERATION_ID = 1
QUIET = frozenset({
    "change_generation", "audit_events", "audit_head", "user_sessions", "login_failures", "account_tokens",
    "second_factors", "recovery_codes", "verifications", "vault_secrets", "alembic_version",
    "users",  # sign-in times, lockouts, language; what a count depends on (node, role, manages_node) keys it
})
WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
SCHEMA = re.compile(r"\s*(?:CREATE|DROP|ALTER)\s+TABLE", re.IGNORECASE)
DIRTY = "referral.generation.dirty"
RAISE = "UPDATE change_generation SET value = value + 1 WHERE id = 1"
_PRESENT: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()  # engine -> the table exists


class ChangeGeneration(Base):
    __tablename__ = "change_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def watch(engine: Engine) -> None:
    """Raise the generation on commit of every transaction of `engine` that wrote a table outside QUIET."""
    event.listen(engine, "begin", _forget)
    event.listen(engine, "rollback", _forget)
    event.listen(engine, "before_cursor_execute", _seen)
    event.listen(engine, "commit", _commit)


def _forget(connection: Any) -> None:
    connection.info.pop(DIRTY, None)


def _seen(connection: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
    if SCHEMA.match(statement):  # a migration may create or drop the generation's table: look again
        _PRESENT.pop(connection.engine, None)
    if DIRTY in connection.info:
        return
    written = WRITE.match(statement)
    if written is not None and written.group(1).lower() not in QUIET:
        connection.info[DIRTY] = True


def _commit(connection: Any) -> None:
    if connection.info.pop(DIRTY, False) and _present(connection):
        connection.exec_driver_sql(RAISE)


def _present(connection: Any) -> bool:
    """Whether the database has the generation's table: not while migrations older than it run (they write
    through this engine too); once seen, always."""
    engine = connection.engine
    if not _PRESENT.get(engine, False):
        _PRESENT[engine] = inspect(connection).has_table(ChangeGeneration.__tablename__)
    return _PRESENT[engine]


def current(session: Session) -> int | None:
    """The generation now (None in a database without its row or table: then nothing is reused)."""
    if not _PRESENT.get(session.get_bind().engine, False) and not _present(session.connection()):
        return None
    value = session.scalar(select(ChangeGeneration.value).where(ChangeGeneration.id == GENERATION_ID))
    return int(value) if value is not None else None
