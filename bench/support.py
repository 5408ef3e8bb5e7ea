"""What benchmarks share: a throw-away app on SQLite with the demo network, a logged-in client, Fichas, timers.

The settings are the test suite's (tests/conftest.py): the fixed test master key, the fast "test"
password profile, no rate limits, a clock the benchmark moves. Nothing here needs PostgreSQL or Redis;
the PostgreSQL helpers (a throw-away database when a server is reachable) are for the benchmarks that
also measure on it, and `captured_sql` shows which statements a request spent its time in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import OperationalError

from referral import create_app
from referral.auth.models import User
from referral.context import Context
from referral.demo.country import default_folder, load_script
from referral.demo.network import DEMO_PASSWORD, load_network
from referral.demo.people import Person
from referral.extensions import database
from referral.migrate import upgrade
from tests.browser import complete_sign_in, hidden_inputs  # the same form reading as the tests

# The benchmarks run Chile's demo (workflows/chile/demo.py): its accounts, Fichas and people.
_SCRIPT = load_script(default_folder())
DOMAIN, INTAKE_USERS, demo_ficha, PersonFactory = (_SCRIPT.DOMAIN, _SCRIPT.INTAKE_USERS, _SCRIPT.demo_ficha,
                                                   _SCRIPT.PersonFactory)

Progress = Callable[[str], None]
Metrics = dict[str, float | int]

MASTER_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # the test suite's key: benchmarks only
REGION = "CL-RM"  # Metropolitana: its focal point (CAVD-CL-RM) triages every case detected there
COORDINATOR = "coordinador.rm"
PG_ADMIN_URL = (os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
                or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# Settings a command run on the bench's database must not inherit from whoever runs the benchmark.
CLI_ENV_DROP = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


class Clock:
    """A clock the benchmark sets; the app and every service Context read it."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def settings(instance: Path, url: str, clock: Clock) -> dict[str, Any]:
    return {
        "TESTING": True, "INSTANCE_PATH": str(instance), "DATABASE_URL": url, "MASTER_KEY": MASTER_KEY,
        "SECRET_KEY": "bench-secret", "PASSWORD_PROFILE": "test", "RATELIMIT_ENABLED": False, "CLOCK": clock,
        "RATELIMIT_STORAGE_URI": "memory://",
        # A bench signs in once and exports for longer than the 10 minutes a confirmation lasts.
        "REAUTH_MINUTES": 24 * 60,
    }


def build_app(folder: Path, clock: Clock, vault: object | None = None) -> Flask:
    """A migrated SQLite database in `folder` with the demo network; `vault` replaces the real one first."""
    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(settings(folder / "instance", f"sqlite:///{folder / 'bench.db'}", clock))
    if vault is not None:
        app.extensions["referral.vault"] = vault  # before any key, wrap or case exists
    migrate_with_network(app)
    return app


def migrate_with_network(app: Flask) -> None:
    """Apply the migrations and load the demo network (regions, nodes, users) into the app's database."""
    upgrade(database.engine(app))
    session = database.factory(app)()
    try:
        load_network(session, "test", masters=app.extensions["referral.vault"].masters)
        session.commit()
    finally:
        session.close()


def cli_environment(url: str, instance: Path) -> dict[str, str]:
    """The environment for a command (`flask --app wsgi ...`, a worker) on the bench's database: its URL,
    the bench's instance folder, master key and session secret, as production gives them; nothing
    REFERRAL_* of the caller's."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in CLI_ENV_DROP and not key.startswith("REFERRAL_")}
    environment.update({
        "DATABASE_URL": url, "REFERRAL_MASTER_KEY": MASTER_KEY, "REFERRAL_SECRET_KEY": "bench-secret",
        "REFERRAL_RATELIMIT": "off", "PYTHONUNBUFFERED": "1", "REFERRAL_INSTANCE_PATH": str(instance),
    })
    return environment


def user_named(ctx: Context, name: str) -> User:
    user = ctx.session.scalar(select(User).where(User.email == f"{name}@{DOMAIN}"))
    if user is None:
        raise LookupError(f"no demo user {name}")
    return user


# -- PostgreSQL ------------------------------------------------------------------------------------


def postgres_reachable(url: str = PG_ADMIN_URL) -> bool:
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


@contextlib.contextmanager
def postgres_database(progress: Progress, prefix: str = "referral_bench", url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new database `<prefix>_<pid>` on the server of `url` (an administrator's URL); yields its URL and
    drops it afterwards, also on failure (WITH (FORCE): connections left open do not keep it)."""
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    progress(f"created PostgreSQL database {name}")
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        progress(f"dropped PostgreSQL database {name}")


def refresh_statistics(engine: Engine) -> None:
    """Planner statistics as a live database has them (autovacuum on PostgreSQL; ANALYZE on SQLite)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


@dataclass(frozen=True)
class Statement:
    ms: float  # from sending it to the driver's return (for psycopg and sqlite3: rows fetched, not yet processed)
    sql: str


@contextlib.contextmanager
def captured_sql(engine: Engine) -> Iterator[list[Statement]]:
    """Every statement `engine` runs inside the block, in order, with its time."""
    found: list[Statement] = []

    def before(connection: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any,
               _many: bool) -> None:
        connection.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(connection: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        started = connection.info["bench_started"].pop()
        found.append(Statement((time.perf_counter() - started) * 1000, statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


# -- the browser ----------------------------------------------------------------------------------


def logged_in(app: Flask, name: str) -> FlaskClient:
    """A test client signed in as demo user `name`, through the login form with its real CSRF token."""
    client = app.test_client()
    hidden = hidden_inputs(client.get("/ingresar").text)
    answer = client.post("/ingresar", data={**hidden, "email": f"{name}@{DOMAIN}", "password": DEMO_PASSWORD})
    answer = complete_sign_in(app, client, f"{name}@{DOMAIN}", answer)  # the code of the second factor
    if answer.status_code != 302 or "/ingresar" in answer.headers.get("Location", ""):
        raise RuntimeError(f"login as {name} failed ({answer.status_code})")
    return client


# -- Fichas ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filing:
    """One Ficha to file: who files it, when (UTC), and the service-level values."""

    user: str
    at: dt.datetime
    values: dict[str, Any]


class FichaMaker:
    """Realistic, seeded Fichas of people detected in one region, as `referral/demo/loader.py` fills them."""

    def __init__(self, seed: int, timezone: ZoneInfo, region: str = REGION):
        self.rng = random.Random(seed)
        self.people = PersonFactory(seed, [region, "CL-TA"])  # the drawn region is then replaced by `region`
        self.timezone = timezone
        self.region = region

    def filing(self, at: dt.datetime, user: str | None = None) -> Filing:
        """A Ficha filed at `at` (UTC) by `user` (default: one of the region's demo intake users)."""
        local = at.astimezone(self.timezone).replace(tzinfo=None, second=0, microsecond=0)
        person = replace(self.people.draw(local.date()), region=self.region)
        who = user or self.rng.choice(INTAKE_USERS[self.region])
        return Filing(who, at, self.values(person, local))

    def values(self, person: Person, local_now: dt.datetime) -> dict[str, Any]:
        return demo_ficha(self.rng, person, local_now)


# -- timing ---------------------------------------------------------------------------------------


def timed_ms(action: Callable[[], object]) -> float:
    """Wall-clock milliseconds of one call."""
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def interleaved(actions: dict[str, Callable[[int], object]], repetitions: int, warmup: int) -> dict[str, list[float]]:
    """Time each action `repetitions` times (after `warmup` untimed calls each), alternating A B, B A, ...
    so that drift of the machine (caches, frequency, other load) falls on both alike. The action gets
    the repetition number (warm-up calls get negative numbers)."""
    names = list(actions)
    for round_ in range(warmup):
        for name in names:
            actions[name](-1 - round_)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for repetition in range(repetitions):
        for name in names if repetition % 2 == 0 else reversed(names):
            samples[name].append(timed_ms(lambda: actions[name](repetition)))  # noqa: B023 (called at once)
    return samples


def load_average() -> str:
    """The machine's 1-minute load average and cores: other work on the machine slows every figure."""
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def median(samples: list[float]) -> float:
    return statistics.median(samples)
