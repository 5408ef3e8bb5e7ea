"""How fast the clocks run: 10,000 due at once out of 100,000 running, handled by a real Celery worker.

The issue's targets, on this 2-core machine: all 10,000 due clocks handled within 60 seconds, and a
sweep of a table with nothing due under 50 ms.

A throw-away database is built (migrations, the demo network), then filled with bulk inserts:
100,000 running clocks (5,000 with --quick) over the six clocks of the Chile definition, six per
case (at most one running period of a clock per case), so about 16,700 minimal cases, each with the
participants the clocks notify (punto focal, nodo líder, coordinación nacional, nodo detector).
Exactly 10,000 clocks (500 with --quick), drawn at random, are due: started long enough ago that the
first step of their schedule (a reminder, or the end of a period of a repeating clock) has come and
the next one is hours away. Every other clock's first step is at least two hours ahead. The
schedules come from the product's own rules (`referral.workflow.clocks.schedule` with the working-day
calendar), so each due clock advances by exactly one step and notifies the users of one relation.

Then, on that database:

1. in-process baseline (`inprocess_<N>_s`): `sweep()` in a unit of work with its commit, then
   `run_clocks()` on batches of 50 ids, each in a unit of work with its commit, as the Celery task
   does, in this one process. `sweep_<N>_ms` is the sweep call alone (it hands out the N ids).
2. `empty_sweep_ms`: nothing is due any more; the median of 20 calls (after 2 untimed) of `sweep()`
   in a fresh unit of work with its commit; `empty_sweep_max_ms` is the slowest of them.
3. The due clocks are put back as they were and their notifications deleted.
4. `due_<N>_s`: a real worker is started, `celery -A referral.worker worker --concurrency 2 --pool
   prefork`, its settings in the environment (as in production). When it says it is ready, the
   clock starts and the sweep task (`referral.clocks.sweep`, what beat sends every minute) is sent
   to the broker. The worker sweeps, sends itself 200 `referral.clocks.run` tasks of 50 ids and runs
   them. The clock stops when a poll of the database (every 50 ms) finds no clock left with its step
   due. The notifications written must equal the baseline's.
   `celery_vs_inprocess_ratio` = `due_<N>_s` / `inprocess_<N>_s`.
5. `drain_<N>_s`: the same clock, stopped when the broker holds no message any more (with e-mail
   on, each `referral.clocks.run` task also sends one `referral.clocks.email` task for what it
   wrote; here e-mail is off, so draining is the last run tasks). The wait is capped (120 s; 30 s with --quick); if the broker is not empty
   by then, `undrained_messages_count` is what is left and `drain_<N>_estimate_s` when it would be
   empty at the rate seen while waiting.

Databases: PostgreSQL when reachable (`BENCH_POSTGRES_URL`, else `TEST_POSTGRES_URL`, else
postgres@127.0.0.1:5432; a database `referral_bench_<pid>` is created and dropped) with Redis as the
broker when reachable (`BENCH_REDIS_URL`, default redis://127.0.0.1:6379/7; that database number is
flushed before and after, so give one nobody else uses); then the same on SQLite with the embedded
broker (kombu's SQLAlchemy transport on a SQLite file), the set-up without servers. The unprefixed
figures are the first database's (`postgresql_count` 1: PostgreSQL, 0: SQLite because PostgreSQL was
not reachable; `redis_count` 1: its broker was Redis); `sqlite_*` are SQLite's when PostgreSQL ran
first. E-mail is off (no SMTP host): no SMTP conversation is timed.

The worker's instance folder is the bench's own (`REFERRAL_INSTANCE_PATH`); the master key and
session secret are given in the environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import bindparam, create_engine, delete, func, insert, select, text, update
from sqlalchemy.exc import OperationalError

from referral import create_app
from referral.cases.models import Case, Participant
from referral.clocks.models import RUNNING, CaseClock, Notification
from referral.clocks.service import calendar_of, run_clocks, sweep
from referral.clocks.tasks import BATCH
from referral.db import utcnow
from referral.extensions import database
from referral.network.models import Assignment, Node
from referral.units import unit_of_work
from referral.workflow.calendar import WorkingCalendar
from referral.workflow.clocks import Step, due_time, schedule
from referral.workflow.definition import Clock as ClockDefinition

from .support import MASTER_KEY, Clock, Metrics, Progress, median, migrate_with_network, settings, timed_ms

ROOT = Path(__file__).resolve().parents[1]
SEED = 2026
PG_ADMIN_URL = (os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
                or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# Database 7: the application uses 0 in the README, the Celery tests 8-15 (tests/clocks/harness.py).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
PAST_MARGIN = dt.timedelta(minutes=30)  # a due clock's step came at least this long before the build
FUTURE_MARGIN = dt.timedelta(hours=2)  # every step not yet due is at least this far after the build
CASES_PER_COMMIT = 1000
POLL_SECONDS = 0.05
WORKER_START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20
QUEUE = "celery"  # Celery's default queue: the clock tasks name no other
EMPTY_SWEEP_WARMUP = 2
# Settings the worker must not inherit from whoever runs the benchmark.
WORKER_ENV_DROP = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


@dataclass(frozen=True)
class Size:
    clocks: int
    due: int
    empty_sweeps: int
    timeout_s: float  # longest wait for the worker to handle every due clock
    drain_wait_s: float  # longest further wait for the broker to empty


FULL = Size(clocks=100_000, due=10_000, empty_sweeps=20, timeout_s=900, drain_wait_s=120)
QUICK = Size(clocks=5_000, due=500, empty_sweeps=10, timeout_s=300, drain_wait_s=30)


@dataclass(frozen=True)
class Backend:
    database: str  # postgresql | sqlite
    url: str  # SQLAlchemy URL of the benchmark's database
    broker: str  # redis | sqlalchemy
    broker_url: str
    result_backend: str


@dataclass
class Loaded:
    """What the load left: the moment it was built for, the due clocks as they were, the case count."""

    built_at: dt.datetime
    due: list[dict[str, Any]]
    cases: int


def run(quick: bool, progress: Progress) -> Metrics:
    size = QUICK if quick else FULL
    metrics: Metrics = {"clocks_count": size.clocks, "due_count": size.due}
    with tempfile.TemporaryDirectory(prefix="referral-bench-deadlines-") as name:
        folder = Path(name)
        sqlite = _sqlite_backend(folder / "sqlite")
        if _postgres_reachable():
            redis = _redis_reachable()
            progress(f"PostgreSQL reachable; broker: {'Redis at ' + REDIS_URL if redis else 'embedded (SQLite file)'}")
            with _postgres_database(progress) as url:
                broker = (("redis", REDIS_URL, REDIS_URL) if redis else
                          ("sqlalchemy", *_embedded_broker(folder / "postgresql")))
                backend = Backend("postgresql", url, *broker)
                metrics.update(_measure(backend, folder / "postgresql", size, metrics, progress))
            metrics["postgresql_count"], metrics["redis_count"] = 1, int(redis)
            progress("the same on SQLite with the embedded broker")
            for key, value in _measure(sqlite, folder / "sqlite", size, metrics, progress).items():
                metrics[f"sqlite_{key}"] = value
        else:
            progress(f"PostgreSQL not reachable at {PG_ADMIN_URL}: SQLite with the embedded broker only")
            metrics.update(_measure(sqlite, folder / "sqlite", size, metrics, progress))
            metrics["postgresql_count"], metrics["redis_count"] = 0, 0
    return metrics


# -- the two databases ------------------------------------------------------------------------------


def _sqlite_backend(folder: Path) -> Backend:
    return Backend("sqlite", f"sqlite:///{folder / 'bench.db'}", "sqlalchemy", *_embedded_broker(folder))


def _embedded_broker(folder: Path) -> tuple[str, str]:
    """The broker and result store create_app picks without REDIS_URL, in our folder instead of instance/."""
    return f"sqla+sqlite:///{folder / 'celery-broker.sqlite'}", f"db+sqlite:///{folder / 'celery-results.sqlite'}"


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


def _redis_reachable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    client.flushdb()  # only the benchmark's own database number
    client.close()


@contextlib.contextmanager
def _postgres_database(progress: Progress) -> Iterator[str]:
    name = f"referral_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    progress(f"created PostgreSQL database {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        progress(f"dropped PostgreSQL database {name}")


def _app(backend: Backend, folder: Path) -> Flask:
    """The benchmark's own app on the database, with the worker's broker; real time, as the worker has."""
    config = settings(folder / "instance", backend.url, Clock(utcnow()))
    config.update({"CLOCK": utcnow, "CELERY_BROKER_URL": backend.broker_url,
                   "CELERY_RESULT_BACKEND": backend.result_backend})
    return create_app(config)


# -- one database: load, baseline, empty sweep, Celery --------------------------------------------------


def _measure(backend: Backend, folder: Path, size: Size, shared: Metrics, progress: Progress) -> Metrics:
    folder.mkdir(parents=True, exist_ok=True)
    if backend.broker == "redis":
        _flush_redis()
    app = _app(backend, folder)
    metrics: Metrics = {}
    n = size.due
    try:
        progress(f"{backend.database}: building {size.clocks} running clocks, {n} of them due")
        began = time.perf_counter()
        loaded = _load(app, size, progress)
        metrics["load_s"] = round(time.perf_counter() - began, 1)
        shared["cases_count"] = loaded.cases
        _refresh_statistics(app)
        _check_due(app, loaded, n)

        progress(f"{backend.database}: in-process baseline: sweep, then run_clocks on batches of {BATCH}; "
                 f"load average {_load_average()}")
        sweep_ms, inprocess_s, notes = _in_process(app, loaded)
        _check_handled(app, loaded, backend.database)
        metrics[f"sweep_{n}_ms"] = round(sweep_ms, 1)
        metrics[f"inprocess_{n}_s"] = round(inprocess_s, 2)
        metrics["notifications_count"] = notes
        progress(f"  sweep handing out {n}: {sweep_ms:.0f} ms; all {n} handled in {inprocess_s:.2f} s "
                 f"({notes} notifications)")

        samples = _empty_sweeps(app, size.empty_sweeps)
        metrics["empty_sweep_ms"] = round(median(samples), 2)
        metrics["empty_sweep_max_ms"] = round(max(samples), 2)
        progress(f"  empty sweep: median {median(samples):.2f} ms, max {max(samples):.2f} ms "
                 f"over {len(samples)} calls (target: under 50 ms)")

        _reset(app, loaded)
        _refresh_statistics(app)
        _check_due(app, loaded, n)

        progress(f"{backend.database}: Celery worker (prefork, concurrency 2, broker {backend.broker}); "
                 f"load average {_load_average()}")
        worker = _with_worker(app, backend, folder, loaded, size, progress)
        due_s = worker.handled_s
        celery_notes = _notifications(app)
        _check_handled(app, loaded, backend.database)
        if celery_notes != notes:
            raise RuntimeError(f"{backend.database}: the worker wrote {celery_notes} notifications, "
                               f"the in-process run {notes}")
        metrics["worker_start_s"] = round(worker.start_s, 1)
        metrics[f"due_{n}_s"] = round(due_s, 2)
        if worker.drain_s is not None:
            metrics[f"drain_{n}_s"] = round(worker.drain_s, 2)
            progress(f"  the broker emptied {worker.drain_s:.2f} s after the sweep was sent")
        else:
            metrics["undrained_messages_count"] = worker.backlog
            estimate = ""
            if worker.drain_estimate_s is not None:
                metrics[f"drain_{n}_estimate_s"] = round(worker.drain_estimate_s, 1)
                estimate = f"; at the rate seen it would empty {worker.drain_estimate_s:.0f} s after the sweep"
            progress(f"  {worker.backlog} messages still in the broker {size.drain_wait_s:.0f} s after the last "
                     f"clock was handled{estimate}")
        metrics["celery_vs_inprocess_ratio"] = round(due_s / inprocess_s, 3)
        progress(f"  {backend.database}: all {n} due clocks handled by the worker in {due_s:.2f} s "
                 f"(target: 60 s); in-process {inprocess_s:.2f} s; ratio {due_s / inprocess_s:.2f}")
    finally:
        database.engine(app).dispose()
        if backend.broker == "redis":
            _flush_redis()
    return metrics


def _load(app: Flask, size: Size, progress: Progress) -> Loaded:
    """Migrate, load the demo network, then bulk-insert cases, participants and clocks."""
    engine = database.engine(app)
    migrate_with_network(app)

    built_at = utcnow()
    rng = random.Random(SEED)
    with unit_of_work(app) as ctx:
        definition = ctx.definition
        calendar = calendar_of(ctx)
        focal = dict(ctx.session.execute(select(Assignment.region_code, Assignment.node_id)
                                         .where(Assignment.function == "punto_focal")).tuples().all())
        national = ctx.session.scalar(select(Assignment.node_id).where(Assignment.function == "coordinacion_nacional",
                                                                       Assignment.region_code.is_(None)))
        local_nodes: dict[str, list[int]] = {}
        for node_id, region in ctx.session.execute(select(Node.id, Node.home_region)).tuples():
            if region is not None:
                local_nodes.setdefault(region, []).append(node_id)
    if national is None:
        raise RuntimeError("the demo network has no national coordination")
    regions = sorted(focal)
    keys = sorted(definition.clocks)
    due_starts = {key: _starts(definition.clocks[key], calendar, built_at, due=True) for key in keys}
    future_starts = {key: _starts(definition.clocks[key], calendar, built_at, due=False) for key in keys}
    cases = math.ceil(size.clocks / len(keys))
    due_positions = set(rng.sample(range(size.clocks), size.due))

    began = time.perf_counter()
    for first in range(0, cases, CASES_PER_COMMIT):
        case_rows: list[dict[str, Any]] = []
        participant_rows: list[dict[str, Any]] = []
        clock_rows: list[dict[str, Any]] = []
        for index in range(first, min(cases, first + CASES_PER_COMMIT)):
            case_id = uuid.uuid4()
            region = regions[index % len(regions)]
            created = built_at - dt.timedelta(days=rng.uniform(1, 120))
            detector = rng.choice(local_nodes.get(region) or [focal[region]])
            case_rows.append({
                "id": case_id, "reference": f"TP-B{index:07d}", "workflow": definition.key,
                "workflow_version": definition.version, "state": "plan_en_ejecucion", "region_code": region,
                "detecting_node_id": detector, "flags": {}, "priority": 0, "intake_token": f"bench-deadlines-{index}",
                "summary": None, "key_version": 1, "version": 1, "created_at": created, "updated_at": created,
                "state_changed_at": created,
            })
            for relation, node_id in (("nodo_detector", detector), ("punto_focal", focal[region]),
                                      ("coordinacion_nacional", national), ("nodo_lider", focal[region])):
                participant_rows.append({"case_id": case_id, "node_id": node_id, "relation": relation, "active": True,
                                         "since": created, "until": None})
            for offset, key in enumerate(keys):
                position = index * len(keys) + offset
                if position >= size.clocks:
                    break
                starts = due_starts[key] if position in due_positions else future_starts[key]
                started, due, next_at = rng.choice(starts)
                clock_rows.append({
                    "case_id": case_id, "clock": key, "period": 1, "status": RUNNING, "started_at": started,
                    "due_at": due, "next_at": next_at, "step": 0, "escalation": 0, "breached_at": None,
                    "stopped_at": None, "stop_reason": None, "enqueued_at": None,
                })
        with engine.begin() as connection:
            connection.execute(insert(Case.__table__), case_rows)
            connection.execute(insert(Participant.__table__), participant_rows)
            connection.execute(insert(CaseClock.__table__), clock_rows)
        done = min(cases, first + CASES_PER_COMMIT)
        if done % 5000 < CASES_PER_COMMIT or done == cases:
            progress(f"  {done}/{cases} cases, {min(size.clocks, done * len(keys))} clocks "
                     f"({time.perf_counter() - began:.1f}s)")

    table = CaseClock.__table__
    with engine.connect() as connection:
        due = [dict(row) for row in connection.execute(
            select(table).where(CaseClock.next_at <= built_at).order_by(CaseClock.id)).mappings()]
    return Loaded(built_at, due, cases)


def _starts(clock: ClockDefinition, calendar: WorkingCalendar, now: dt.datetime,
            due: bool) -> list[tuple[dt.datetime, dt.datetime, dt.datetime]]:
    """(started_at, due_at, next_at) of period 1 of `clock`, checked against its real schedule: for
    `due`, the first step came at least PAST_MARGIN before `now` and the next one is at least
    FUTURE_MARGIN after it; otherwise the first step is at least FUTURE_MARGIN after `now`."""
    found: list[tuple[dt.datetime, dt.datetime, dt.datetime]] = []
    base = now.replace(second=0, microsecond=0)
    for hours in range(1, 24 * 400):
        for minutes in (0, 7, 19, 31, 43, 52):  # a spread of start times within the hour
            started = base - dt.timedelta(hours=hours, minutes=minutes)
            steps = schedule(clock, started, calendar)
            first = steps[0].at
            if due:
                if first <= now - PAST_MARGIN and _second_step(clock, started, steps, calendar) >= now + FUTURE_MARGIN:
                    found.append((started, due_time(clock, started, calendar), first))
            elif first >= now + FUTURE_MARGIN:
                found.append((started, due_time(clock, started, calendar), first))
        if due and found and len(found) >= 24:
            break
        if not due and len(found) >= 240:
            break
    if not found:
        raise RuntimeError(f"no start time puts clock {clock.key} {'due' if due else 'ahead'} at {now:%Y-%m-%d %H:%M}")
    return found


def _second_step(clock: ClockDefinition, started: dt.datetime, steps: tuple[Step, ...],
                 calendar: WorkingCalendar) -> dt.datetime:
    """When the step after the first falls (a repeating clock's next period starts at its deadline)."""
    if len(steps) > 1:
        return steps[1].at
    if clock.repeats:
        return schedule(clock, due_time(clock, started, calendar), calendar)[0].at
    return dt.datetime.max.replace(tzinfo=dt.UTC)


def _refresh_statistics(app: Flask) -> None:
    """Planner statistics as a live database has them (autovacuum on PostgreSQL; ANALYZE on SQLite)."""
    engine = database.engine(app)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def _check_due(app: Flask, loaded: Loaded, expected: int) -> None:
    now = utcnow()
    with database.engine(app).connect() as connection:
        running = connection.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.status == RUNNING))
        due = connection.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.next_at <= now))
        notes = connection.scalar(select(func.count()).select_from(Notification))
    if due != expected or len(loaded.due) != expected or notes:
        raise RuntimeError(f"expected {expected} due clocks and no notifications, found {due} due "
                           f"({len(loaded.due)} at load) and {notes} notifications")
    if now >= loaded.built_at + FUTURE_MARGIN - dt.timedelta(minutes=10):
        raise RuntimeError("the next steps of the clocks are about to come: the build is too old for a fair run")
    if not running:
        raise RuntimeError("no running clocks")


def _remaining(app: Flask, loaded: Loaded) -> int:
    """Clocks whose step is still due (as of the build: the handled ones moved hours ahead)."""
    with database.engine(app).connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(CaseClock)
                                     .where(CaseClock.next_at <= loaded.built_at)) or 0)


def _notifications(app: Flask) -> int:
    with database.engine(app).connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Notification)) or 0)


def _check_handled(app: Flask, loaded: Loaded, name: str) -> None:
    """Every due clock advanced one step and is free to be handed out again."""
    before = {row["id"]: row for row in loaded.due}
    table = CaseClock.__table__
    with database.engine(app).connect() as connection:
        rows = list(connection.execute(select(table.c.id, table.c.period, table.c.step, table.c.next_at,
                                              table.c.enqueued_at).where(table.c.id.in_(list(before)))))
    stuck = [row.id for row in rows
             if (row.period, row.step) == (before[row.id]["period"], before[row.id]["step"])
             or row.enqueued_at is not None or (row.next_at is not None and row.next_at <= loaded.built_at)]
    if stuck or len(rows) != len(before):
        raise RuntimeError(f"{name}: {len(stuck)} due clocks were not handled (e.g. {stuck[:5]})")


def _in_process(app: Flask, loaded: Loaded) -> tuple[float, float, int]:
    """Sweep and run every due clock in this process, as the tasks would; (sweep ms, total s, notifications)."""
    lease = dt.timedelta(seconds=app.config["CLOCK_LEASE_SECONDS"])
    began = time.perf_counter()
    with unit_of_work(app) as ctx:
        ids = sweep(ctx, utcnow(), lease)
        ctx.session.commit()
    swept = time.perf_counter()
    created = 0
    for first in range(0, len(ids), BATCH):
        with unit_of_work(app) as ctx:
            created += len(run_clocks(ctx, ids[first:first + BATCH], utcnow(), email=False))
            ctx.session.commit()
    ended = time.perf_counter()
    if len(ids) != len(loaded.due):
        raise RuntimeError(f"the sweep handed out {len(ids)} clocks, {len(loaded.due)} are due")
    if created != _notifications(app) or not created:
        raise RuntimeError(f"run_clocks reported {created} notifications, the table holds {_notifications(app)}")
    return (swept - began) * 1000, ended - began, created


def _empty_sweeps(app: Flask, repetitions: int) -> list[float]:
    """Sweeps of a table with nothing due, each a fresh unit of work with its commit (milliseconds)."""
    lease = dt.timedelta(seconds=app.config["CLOCK_LEASE_SECONDS"])

    def once() -> None:
        with unit_of_work(app) as ctx:
            ids = sweep(ctx, utcnow(), lease)
            ctx.session.commit()
        if ids:
            raise RuntimeError(f"the empty sweep handed out {len(ids)} clocks")

    for _ in range(EMPTY_SWEEP_WARMUP):
        once()
    return [timed_ms(once) for _ in range(repetitions)]


def _reset(app: Flask, loaded: Loaded) -> None:
    """Put the due clocks back as they were at load, and delete the notifications they wrote."""
    columns = ("period", "status", "started_at", "due_at", "next_at", "step", "escalation", "breached_at",
               "stopped_at", "stop_reason", "enqueued_at")
    table = CaseClock.__table__
    statement = (update(table).where(table.c.id == bindparam("row_id"))
                 .values({column: bindparam(f"new_{column}") for column in columns}))
    parameters = [{"row_id": row["id"], **{f"new_{column}": row[column] for column in columns}} for row in loaded.due]
    with database.engine(app).begin() as connection:
        connection.execute(delete(Notification.__table__))
        for first in range(0, len(parameters), 1000):
            connection.execute(statement, parameters[first:first + 1000])


# -- the real worker -----------------------------------------------------------------------------------


def _worker_environment(backend: Backend, folder: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in WORKER_ENV_DROP and not key.startswith("REFERRAL_")}
    environment.update({
        "DATABASE_URL": backend.url, "REFERRAL_MASTER_KEY": MASTER_KEY, "REFERRAL_SECRET_KEY": "bench-secret",
        "REFERRAL_RATELIMIT": "off", "PYTHONUNBUFFERED": "1", "REFERRAL_INSTANCE_PATH": str(folder / "instance"),
    })
    if backend.broker == "redis":
        environment["REDIS_URL"] = backend.broker_url
    else:
        environment["REFERRAL_BROKER_URL"] = backend.broker_url
        environment["REFERRAL_RESULT_BACKEND"] = backend.result_backend
    return environment


@dataclass(frozen=True)
class Run:
    """One run of the worker: seconds until it was ready, until every due clock was handled, until the
    broker was empty (None: not within the wait), and the messages left at the end of the wait."""

    start_s: float
    handled_s: float
    drain_s: float | None
    drain_estimate_s: float | None  # when not drained: when it would be, at the rate seen while waiting
    backlog: int


def _with_worker(app: Flask, backend: Backend, folder: Path, loaded: Loaded, size: Size,
                 progress: Progress) -> Run:
    """Start a worker, send it the sweep, wait until every due clock is handled, then (for at most
    size.drain_wait_s more) until the broker holds no message."""
    log_path = folder / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "referral.worker", "worker", "--concurrency", "2",
               "--pool", "prefork", "--loglevel", "INFO", "--hostname", f"bench-deadlines-{os.getpid()}@%h"]
    began = time.perf_counter()
    with log_path.open("wb") as log:
        worker = subprocess.Popen(command, cwd=ROOT, env=_worker_environment(backend, folder), stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(worker, log_path)
        start_s = time.perf_counter() - began
        progress(f"  worker ready after {start_s:.1f} s (pid {worker.pid}); sending the sweep task")
        celery = app.extensions["celery"]
        sent = time.perf_counter()
        celery.send_task("referral.clocks.sweep")
        last_report, remaining = sent, len(loaded.due)
        while remaining:
            time.sleep(POLL_SECONDS)
            remaining = _remaining(app, loaded)
            now = time.perf_counter()
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}) with {remaining} clocks left; "
                                   f"its log: {_tail(log_path)}")
            if now - sent > size.timeout_s:
                raise RuntimeError(f"{remaining} of {len(loaded.due)} clocks still due after {size.timeout_s:.0f} s; "
                                   f"worker log: {_tail(log_path)}")
            if now - last_report >= 5:
                progress(f"  {len(loaded.due) - remaining}/{len(loaded.due)} handled after {now - sent:.1f} s")
                last_report = now
        handled_s = time.perf_counter() - sent
        backlog = _backlog(backend)
        progress(f"  all handled after {handled_s:.2f} s; {backlog} messages still in the broker")
        first_backlog, drain_s, estimate_s = backlog, None, None
        while backlog and time.perf_counter() - sent < handled_s + size.drain_wait_s:
            time.sleep(POLL_SECONDS * 4)
            backlog = _backlog(backend)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); its log: {_tail(log_path)}")
        waited = time.perf_counter() - sent
        if not backlog:
            drain_s = waited
        elif backlog < first_backlog:  # at the rate seen while waiting
            estimate_s = waited + backlog * (waited - handled_s) / (first_backlog - backlog)
        celery.close()
        return Run(start_s, handled_s, drain_s, estimate_s, backlog)
    finally:
        _stop(worker)


def _backlog(backend: Backend) -> int:
    """Messages in the broker not yet finished by the worker (queued, or taken and not acknowledged)."""
    if backend.broker == "redis":
        import redis

        client = redis.Redis.from_url(backend.broker_url, socket_connect_timeout=3)
        try:
            return int(client.llen(QUEUE)) + int(client.hlen("unacked"))  # kombu's key for unacknowledged
        finally:
            client.close()
    path = backend.broker_url.removeprefix("sqla+sqlite:///")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as connection:
        # kombu keeps delivered messages with visible = 0; the (at most 2) being run are not counted
        return int(connection.execute("SELECT count(*) FROM kombu_message WHERE visible = 1").fetchone()[0])


def _wait_ready(worker: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.perf_counter() + WORKER_START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}) before it was ready: {_tail(log_path)}")
        if b" ready." in log_path.read_bytes():
            return
        time.sleep(0.1)
    raise RuntimeError(f"the worker was not ready within {WORKER_START_TIMEOUT_S} s: {_tail(log_path)}")


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """A warm shutdown of the worker (SIGTERM to its main process), then SIGKILL to its whole process
    group (the main process and its pool children), whatever is left of it."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)


def _load_average() -> str:
    """The machine's 1-minute load average and cores: other work on the machine slows every figure."""
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
