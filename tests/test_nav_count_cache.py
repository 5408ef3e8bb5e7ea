"""The navigation's counts are reused only while nothing they depend on has changed (issue 17, item 1).

`referral/generation.py` raises one integer on the commit of every transaction that wrote case or network
data, whichever way the statement came (ORM flush, `session.execute(update(...))`, Core on a connection);
`referral/web/nav.py` keeps each user's counts with the generation they were counted at. The attacks here are
the ways a stale count could be shown: a step in another unit of work, a bulk UPDATE that bypasses the ORM, a
rolled-back write, two databases with the same user ids, time passing with no write at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text, update

from referral import create_app
from referral.clocks.models import Notification
from referral.extensions import database
from referral.generation import ChangeGeneration
from referral.units import unit_of_work
from referral.web.nav import CountCache

from .backends import both_backends
from .conftest import Clock, _settings
from .test_query_counts import DETECTOR, FOCAL, badge, signed_in
from .steps import file_case

TRIAGE = "Bandeja de triaje"
COUNTING = re.compile(r"SELECT \(SELECT count\(\*\)")  # the navigation's one counting statement


def generation(app: Flask) -> int:
    with database.engine(app).connect() as connection:
        return int(connection.scalar(select(ChangeGeneration.value)) or 0)


class Statements:
    def __init__(self, app: Flask) -> None:
        self.found: list[str] = []
        event.listen(database.engine(app), "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.found.append(statement)

    def counted(self) -> bool:
        """Whether the navigation counted since the last call."""
        found = any(COUNTING.search(" ".join(s.split())) for s in self.found)
        self.found.clear()
        return found


@both_backends
def test_a_page_with_nothing_changed_reuses_the_counts_and_a_step_elsewhere_recounts(app: Flask) -> None:
    focal = signed_in(app, FOCAL)
    statements = Statements(app)
    assert badge(focal.get("/protocolo").text, TRIAGE) == 0
    statements.counted()
    assert badge(focal.get("/protocolo").text, TRIAGE) == 0
    assert not statements.counted(), "nothing changed: the counts were reused"
    before = generation(app)
    file_case(app, by=DETECTOR)  # another unit of work, as another request or worker takes a step
    assert generation(app) == before + 1
    assert badge(focal.get("/protocolo").text, TRIAGE) == 1
    assert statements.counted()


@both_backends
def test_reading_a_case_and_signing_in_raise_nothing_a_bulk_update_and_a_core_write_do(app: Flask) -> None:
    reference = file_case(app, by=DETECTOR)
    focal = signed_in(app, FOCAL)  # sessions, second factor, the user's row: quiet
    before = generation(app)
    assert focal.get(f"/casos/{reference}").status_code == 200  # appends to the audit log: quiet
    assert generation(app) == before
    with unit_of_work(app) as ctx:  # an UPDATE sent past the ORM's unit of work
        ctx.session.execute(update(Notification).values(read_at=None))
        ctx.session.commit()
    assert generation(app) == before + 1
    with database.engine(app).begin() as connection:  # Core on a connection, no session at all
        connection.execute(text("UPDATE cases SET priority = priority"))
    assert generation(app) == before + 2


@both_backends
def test_a_rolled_back_write_raises_nothing(app: Flask) -> None:
    file_case(app, by=DETECTOR)
    before = generation(app)
    with unit_of_work(app) as ctx:
        ctx.session.execute(text("UPDATE cases SET priority = priority + 1"))
        ctx.session.rollback()
        ctx.session.execute(select(1))  # the next transaction on the same connection reads only
        ctx.session.commit()
    assert generation(app) == before


def test_two_databases_with_the_same_users_never_share_counts(sqlite_template: Path, tmp_path: Path) -> None:
    import shutil

    apps = []
    for name in ("a", "b"):
        shutil.copy(sqlite_template, tmp_path / f"{name}.db")
        apps.append(create_app(_settings(tmp_path / name, f"sqlite:///{tmp_path / f'{name}.db'}", Clock())))
    first, second = apps
    file_case(first, by=DETECTOR)  # both databases now stand at the same generation, one case apart
    file_case(second, by=DETECTOR)
    file_case(second, by=DETECTOR)
    assert generation(first) == generation(second) - 1
    with unit_of_work(first) as ctx:
        ctx.session.execute(text("UPDATE cases SET priority = priority"))
        ctx.session.commit()
    assert generation(first) == generation(second)
    assert badge(signed_in(first, FOCAL).get("/protocolo").text, TRIAGE) == 1
    assert badge(signed_in(second, FOCAL).get("/protocolo").text, TRIAGE) == 2
    for app in apps:
        database.engine(app).dispose()


def test_counts_older_than_a_minute_are_counted_again_even_with_no_write() -> None:
    import datetime as dt

    cache, key, at = CountCache(), (1, 2, "punto_focal", False), dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    cache.put(key, 5, at, {"triaje": 3})
    assert cache.get(key, 5, at + dt.timedelta(seconds=59)) == {"triaje": 3}
    assert cache.get(key, 5, at + dt.timedelta(seconds=61)) is None  # an access may have expired meanwhile
    assert cache.get(key, 6, at) is None  # something was written
    assert cache.get(key, 5, at - dt.timedelta(seconds=1)) is None  # a clock set back: not trusted
    assert cache.get((1, 2, "punto_focal", True), 5, at) is None  # she now manages her node: other counts


def test_the_cache_keeps_at_most_its_size_oldest_out() -> None:
    import datetime as dt

    cache, at = CountCache(), dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    cache.SIZE = 3
    for user in range(5):
        cache.put((user, 1, "gestor", False), 1, at, {"x": user})
    assert [cache.get((user, 1, "gestor", False), 1, at) for user in range(5)] == [None, None, {"x": 2}, {"x": 3},
                                                                                  {"x": 4}]


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_applications_postgresql_connections_never_jit_compile_a_page_query(app: Flask) -> None:
    """JIT compiling cost a national worklist ~25 ms of a 70 ms query (docs/benchmarks.md «web»)."""
    with database.engine(app).connect() as connection:
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
