"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from referral.db import Base, make_engine
from referral.migrate import downgrade, upgrade
from referral.models import import_all

from .backends import both_backends
from .conftest import PG_ADMIN_URL


@pytest.fixture
def empty_url(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("postgres_template")  # skips or fails (CI) when PostgreSQL is down
    name = f"referral_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@both_backends
def test_upgrading_an_empty_database_gives_the_models_schema(empty_url: str) -> None:
    import_all()
    engine = make_engine(empty_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    engine.dispose()
    assert differences == []


@both_backends
def test_migrations_go_down_to_nothing_and_up_again(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert "cases" in inspect(engine).get_table_names()
    engine.dispose()


@both_backends
def test_existing_cases_get_a_random_record_key(app: Any) -> None:
    """Migration d41a7e0c2b55 (issue 13): cases filed before record keys existed each get one."""
    from sqlalchemy import select

    from referral.extensions import database
    from referral.stats.disclosure import KEY_SPACE
    from referral.stats.models import CaseStat

    from .steps import file_case

    for _ in range(5):
        file_case(app)
    engine = database.engine(app)
    downgrade(engine, "c7f1159f1b0e")
    assert "record_key" not in {c["name"] for c in inspect(engine).get_columns("case_stats")}
    upgrade(engine)
    with engine.connect() as connection:
        keys = connection.scalars(select(CaseStat.record_key)).all()
    assert len(keys) == 5 and len(set(keys)) == 5 and all(0 <= key < KEY_SPACE for key in keys)
