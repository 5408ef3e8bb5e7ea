"""Database plumbing: the declarative base, engines with safe settings, one session per request."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for another one


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout.

    `hide_parameters`: no bound value (a name, an e-mail, a ciphertext) is ever written into an
    exception's text or the engine's log, whoever logs them.
    """
    options.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_begin_before_savepoint)
        return engine
    # No JIT compilation: it pays off for long analytical queries, not for a page's; on a worklist of a
    # national database it added ~25 ms of compiling to a 70 ms query (docs/benchmarks.md, «web»).
    options.setdefault("connect_args", {"options": "-c jit=off"})
    return create_engine(url, pool_pre_ping=True, **options)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Freed pages are overwritten, so deleted ciphertext does not linger in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin_before_savepoint(connection: Any, _name: str) -> None:
    """Open the transaction before a savepoint, as PostgreSQL's always is.

    Python's sqlite3 module (in its default, legacy transaction mode) sends BEGIN only before the first
    INSERT, UPDATE or DELETE. A SAVEPOINT issued before any write therefore starts the transaction
    itself, and releasing it COMMITS everything up to there: a step that failed after its savepoint
    (say, the Ficha's case row, then an error while indexing it) would leave its first writes behind.
    """
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def scrub_freed_space(engine: Engine, tables: tuple[str, ...], wait_ms: int = 3000) -> bool:
    """After erasing rows, leave no copy of them in the database files we control; False if blocked.

    SQLite overwrites freed pages (`secure_delete`), but only once the write-ahead log is copied back
    into the file, and the log itself still holds the old pages until it is reset: the TRUNCATE
    checkpoint does both. A reader holding an old snapshot (a backup in progress) blocks it: then
    this waits up to `wait_ms` and answers False, and the caller must say so and retry later
    (`flask cases scrub`). PostgreSQL keeps deleted rows as dead tuples until VACUUM frees their
    space for reuse (see docs/encryption.md for what that means for erasure).
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_ms)}")
            busy, _log, _done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return busy == 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.exec_driver_sql(f"VACUUM {table}")
    return True
