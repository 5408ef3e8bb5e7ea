"""Nothing half-written survives a failure, on SQLite as on PostgreSQL: a savepoint opened before the
step's first write must not commit what came before it when it is released."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from referral.cases import intake
from referral.kernel.models import Case
from referral.db import make_engine

from .backends import both_backends
from .factories import ficha_values
from .steps import user
from .units import unit_of_work


@both_backends
def test_a_released_savepoint_before_the_first_write_commits_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    table = f"savepoint_probe_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE {table} (x INTEGER)")
        with Session(engine) as session:
            session.execute(sa.text("SELECT 1"))  # a read first: no transaction yet on pysqlite
            with session.begin_nested():
                session.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))
            session.execute(sa.text(f"INSERT INTO {table} VALUES (2)"))
            session.rollback()
        with engine.connect() as connection:
            assert connection.exec_driver_sql(f"SELECT x FROM {table}").all() == []
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE {table}")
        engine.dispose()


@both_backends
def test_a_ficha_that_fails_after_its_case_row_leaves_no_case(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case row is written in a savepoint (a lost race on the submission token is told apart); a
    failure later in the same step (here: while indexing) must take the row with it."""

    def broken_index(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("index failed")

    monkeypatch.setattr(intake, "index_case", broken_index)  # fault injection: the step fails midway
    with unit_of_work(app) as ctx:
        with pytest.raises(RuntimeError):
            intake.file_intake(ctx, user(ctx, "salud.rm"), ficha_values(), uuid.uuid4().hex)
        ctx.session.rollback()
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
