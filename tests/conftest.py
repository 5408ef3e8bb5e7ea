"""Fixtures: a real database per test (SQLite file, or PostgreSQL when asked), real encryption.

The demo network (16 regions, every node, demo users) is built once per backend into a template
and copied (SQLite) or kept while case tables are emptied (PostgreSQL) for each test.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from referral import create_app
from referral.auth.models import User
from referral.context import Context
from referral.demo.network import DEMO_PASSWORD, load_network
from referral.demo.second_factor import enrol_demo_accounts
from referral.extensions import database
from referral.migrate import upgrade
from referral.vault import MasterKey, MasterKeyring
from referral.workflow import load_definition

from .browser import Browser
from .units import unit_of_work

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
CASE_TABLES = ("mesa_agreements", "mesa_meetings", "case_agreements", "case_meetings", "case_clocks", "notifications", "case_events", "form_records", "case_tracks", "case_participants",
               "case_key_wraps", "case_keys", "blind_indexes", "case_tombstones", "cases", "node_keys", "vault_secrets",
               "referrals", "consents", "emergency_accesses", "audit_events", "case_stat_steps", "case_stats",
               "user_sessions", "account_tokens", "access_notices", "access_grants", "login_failures",
               "verifications", "recovery_codes", "second_factors", "intake_drafts", "case_links",
               "case_assignments", "case_notes", "case_attachments")
MASTER_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, tests only


class Clock:
    """A clock tests can move; starts at a fixed weekday noon in Santiago (15:00 UTC)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


def _settings(instance: Path, url: str, clock: Clock) -> dict[str, Any]:
    return {
        "TESTING": True, "INSTANCE_PATH": str(instance), "DATABASE_URL": url, "MASTER_KEY": MASTER_KEY,
        "SECRET_KEY": "test-secret", "PASSWORD_PROFILE": "test", "RATELIMIT_ENABLED": False, "CLOCK": clock,
        "RATELIMIT_STORAGE_URI": "memory://",
    }


def _build_template(app: Any) -> None:
    engine = database.engine(app)
    upgrade(engine)
    session = database.factory(app)()
    load_network(session, "test", masters=app.extensions["referral.vault"].masters)  # and demo second factors
    session.commit()
    session.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    app = create_app(_settings(folder, f"sqlite:///{path}", Clock()))
    _build_template(app)
    database.engine(app).dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if not _postgres_reachable():
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}"
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
        pytest.skip(f"{message}: PostgreSQL tests skipped (start it, or set TEST_POSTGRES_URL)")
    name = f"referral_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = create_app(_settings(Path(os.environ.get("TMPDIR", "/tmp")) / name, url, Clock()))
    _build_template(app)
    database.engine(app).dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrise a test with ["sqlite", "postgresql"] (indirect) to run it on both databases."""
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_template")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(CASE_TABLES)} CASCADE"))
        connection.execute(text("UPDATE users SET failed_logins = 0, locked_until = NULL, active = true"))
        connection.execute(text("UPDATE audit_head SET seq = 0, hash = :genesis"), {"genesis": bytes(32)})
    _enrol_demo_second_factors(engine)
    engine.dispose()
    return url


def _enrol_demo_second_factors(engine: Any) -> None:
    """The template's demo authenticators, afresh: an earlier test may have used their codes, replaced
    them or rotated the master key that wraps them."""
    with Session(engine) as session:
        enrol_demo_accounts(session, MasterKeyring(MasterKey(base64.b64decode(MASTER_KEY))), _chile(),
                            list(session.scalars(select(User))), dt.datetime.now(dt.UTC))
        session.commit()


@functools.cache
def _chile() -> Any:
    return load_definition(Path(__file__).resolve().parents[1] / "workflows" / "chile")


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Any]:
    app = create_app(_settings(tmp_path / "instance", database_url, clock))
    yield app
    database.engine(app).dispose()


@pytest.fixture
def ctx(app: Any) -> Iterator[Context]:
    """A service Context on its own session, as a request would have."""
    with unit_of_work(app) as context:
        yield context


@pytest.fixture
def browser(app: Any) -> Browser:
    return Browser(app, DEMO_PASSWORD)


@pytest.fixture
def make_browser(app: Any) -> Any:
    """Several independent browsers (two coordinators at once, say)."""
    return lambda: Browser(app, DEMO_PASSWORD)
