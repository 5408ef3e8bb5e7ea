"""How fast the clocks run: 10,000 due at once out of 100,000 running, handled by a real Celery worker.

The issue's targets, on this 2-core machine: all 10,000 due clocks handled within 60 seconds, and a
sweep of a table with nothing due under 50 ms.

A throw-away database is built (migrations, the demo network), then filled with bulk inserts:
100,000 running clocks (2,200 with --quick), one of each clock of the Chile definition per case (11
today, so about 9,100 minimal cases in their Plan), each case with the participants the clocks
notify (punto focal, nodo líder, coordinación nacional, nodo detector). A clock of one referral
(the answer to a derivación or an emergency referral, a referred plan action) comes with its
referral: sent by the region's focal point to a node that offers the service and has staff, in the
state that starts the clock (pendiente, or aceptada for the action), and the receiving node's
relation to the case, as sending it gives; the clock's `subject` is the referral. A clock whose
deadline is a date typed into its starting step (`deadline_from`: the action's committed date,
`referral.due_on`, and the residence permit's end) gets a date from today on; the referral of the
action carries it as `due_on`.

Exactly 10,000 clocks (200 with --quick), drawn at random, are due: a step of their schedule came at
least 30 minutes before the build and the next one is at least two hours after it. Every other
clock's next step is at least two hours ahead. Where a clock stands comes from the product's own
rules, computed once for both databases: `referral.workflow.clocks.schedule` with the working-day
calendar, and for a typed date the deadline `deadline_given` derives from it, as the step starting
the clock does. Steps a placed clock already has behind it are only the arrival notice of a referral
and advance reminders. So each due clock advances by exactly one step and notifies the staff of one
or two relations (a referral's receiving or sending node for the referral clocks);
`notified_clocks_count` (must equal `due_count`) counts the clocks that notified someone.

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
   wrote; here e-mail is off, so draining is the last run tasks). The wait is capped (120 s; 30 s
   with --quick); if the broker is not empty by then, `undrained_messages_count` is what is left and
   `drain_<N>_estimate_s` when it would be empty at the rate seen while waiting.
6. `due_<N>_slow_smtp_s`: the due clocks are put back again, and the same N are handled with e-mail
   on, against a local SMTP sink (aiosmtpd, in this process) that takes 1 s to answer each message:
   a worker of the clocks' queue (`-Q clocks`, concurrency 2, as in item 4) and a worker of the mail
   queue (`-Q mail`, concurrency 1), as production runs them. The clock is item 4's: from the sweep
   task sent until no clock is left with its step due; the notifications must equal the baseline's.
   `slow_smtp_vs_due_ratio` = `due_<N>_slow_smtp_s` / `due_<N>_s` (target: at most 1.10: the in-app
   notifications are not held back by mail); `slow_smtp_sent_count` is how many e-mails the sink had
   answered by then (the mail worker was at work meanwhile). The mail queue is not drained (N
   seconds at least); the workers are stopped and the broker flushed.

Databases: PostgreSQL when reachable (`BENCH_POSTGRES_URL`, else `TEST_POSTGRES_URL`, else
postgres@127.0.0.1:5432; a database `referral_bench_<pid>` is created and dropped) with Redis as the
broker when reachable (`BENCH_REDIS_URL`, default redis://127.0.0.1:6379/7; that database number is
flushed before and after, so give one nobody else uses); then the same on SQLite with the embedded
broker (kombu's SQLAlchemy transport on a SQLite file), the set-up without servers. The unprefixed
figures are the first database's (`postgresql_count` 1: PostgreSQL, 0: SQLite because PostgreSQL was
not reachable; `redis_count` 1: its broker was Redis); `sqlite_*` are SQLite's when PostgreSQL ran
first. E-mail is off (no SMTP host) except in item 6.

The worker's instance folder is the bench's own (`REFERRAL_INSTANCE_PATH`); the master key and
session secret are given in the environment.

Duration on 2 cores: --quick about 1.5 minutes, full size about 7 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import os
import random
import signal
import sqlite3
import subprocess
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import bindparam, delete, func, insert, select, update

from referral import create_app
from referral.auth.models import User
from referral.kernel.meeting_models import CaseAgreement, CaseMeeting
from referral.kernel.models import Case, Participant
from referral.clocks.models import RUNNING, CaseClock, Notification
from referral.clocks.service import calendar_of, run_clocks, sweep
from referral.tasks import BATCH
from referral.context import Context
from referral.db import utcnow
from referral.extensions import database
from referral.network.models import Assignment, Node
from referral.queue import CLOCKS_QUEUE, MAIL_QUEUE
from referral.kernel.referral_models import Referral
from referral.units import unit_of_work
from referral.workflow.calendar import WorkingCalendar
from referral.workflow.clocks import REMINDER, STARTED, Step, deadline_given, due_time, of_referral, schedule
from referral.workflow.definition import Clock as ClockDefinition
from referral.workflow.definition import WorkflowDefinition
from referral.workflow.meetings import subject_event

from .support import (
    PG_ADMIN_URL, Clock, Metrics, Progress, cli_environment, load_average, median, migrate_with_network,
    postgres_database, postgres_reachable, refresh_statistics, settings, timed_ms,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 2026
# Database 7: the application uses 0 in the README, the Celery tests 8-15 (tests/clocks/harness.py).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
PAST_MARGIN = dt.timedelta(minutes=30)  # a due clock's step came at least this long before the build
FUTURE_MARGIN = dt.timedelta(hours=2)  # every step not yet due is at least this far after the build
CASES_PER_COMMIT = 1000
POLL_SECONDS = 0.05
WORKER_START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20
SLOW_SMTP_SECONDS = 1.0  # the sink's answer to each message takes this long
EMPTY_SWEEP_WARMUP = 2
START_MINUTES = (0, 7, 19, 31, 43, 52)  # a spread of start times within the hour
TYPED_START_HOURS = (0, 1, 5, 26, 50, 100, 170, 340, 700, 1500, 2200)  # steps taken this long before the build
DUE_PLACEMENTS, AHEAD_PLACEMENTS = 24, 240  # placements drawn from, per clock
HANDLED_BEFORE = (STARTED, REMINDER)  # steps a placed clock may have behind it: they only notify


@dataclass(frozen=True)
class Size:
    clocks: int
    due: int
    empty_sweeps: int
    timeout_s: float  # longest wait for the worker to handle every due clock
    drain_wait_s: float  # longest further wait for the broker to empty


FULL = Size(clocks=100_000, due=10_000, empty_sweeps=20, timeout_s=900, drain_wait_s=120)
QUICK = Size(clocks=2_200, due=200, empty_sweeps=10, timeout_s=300, drain_wait_s=30)


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
        plan = _plan(_app(_sqlite_backend(folder / "plan"), folder / "plan"))
        progress(f"placements of the {len(plan.due)} clocks of the definition, due and ahead, at "
                 f"{plan.built_at:%Y-%m-%d %H:%M} UTC")
        if postgres_reachable():
            redis = _redis_reachable()
            progress(f"PostgreSQL reachable; broker: {'Redis at ' + REDIS_URL if redis else 'embedded (SQLite file)'}")
            with postgres_database(progress) as url:
                broker = (("redis", REDIS_URL, REDIS_URL) if redis else
                          ("sqlalchemy", *_embedded_broker(folder / "postgresql")))
                backend = Backend("postgresql", url, *broker)
                metrics.update(_measure(backend, folder / "postgresql", size, plan, metrics, progress))
            metrics["postgresql_count"], metrics["redis_count"] = 1, int(redis)
            progress("the same on SQLite with the embedded broker")
            for key, value in _measure(sqlite, folder / "sqlite", size, plan, metrics, progress).items():
                metrics[f"sqlite_{key}"] = value
        else:
            progress(f"PostgreSQL not reachable at {PG_ADMIN_URL}: SQLite with the embedded broker only")
            metrics.update(_measure(sqlite, folder / "sqlite", size, plan, metrics, progress))
            metrics["postgresql_count"], metrics["redis_count"] = 0, 0
    return metrics


# -- the two databases ------------------------------------------------------------------------------


def _sqlite_backend(folder: Path) -> Backend:
    return Backend("sqlite", f"sqlite:///{folder / 'bench.db'}", "sqlalchemy", *_embedded_broker(folder))


def _embedded_broker(folder: Path) -> tuple[str, str]:
    """The broker and result store create_app picks without REDIS_URL, in our folder instead of instance/."""
    return f"sqla+sqlite:///{folder / 'celery-broker.sqlite'}", f"db+sqlite:///{folder / 'celery-results.sqlite'}"


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


def _app(backend: Backend, folder: Path) -> Flask:
    """The benchmark's own app on the database, with the worker's broker; real time, as the worker has."""
    config = settings(folder / "instance", backend.url, Clock(utcnow()))
    config.update({"CLOCK": utcnow, "CELERY_BROKER_URL": backend.broker_url,
                   "CELERY_RESULT_BACKEND": backend.result_backend})
    return create_app(config)


# -- one database: load, baseline, empty sweep, Celery --------------------------------------------------


def _measure(backend: Backend, folder: Path, size: Size, plan: Plan, shared: Metrics,
             progress: Progress) -> Metrics:
    folder.mkdir(parents=True, exist_ok=True)
    if backend.broker == "redis":
        _flush_redis()
    app = _app(backend, folder)
    metrics: Metrics = {}
    n = size.due
    try:
        progress(f"{backend.database}: building {size.clocks} running clocks, {n} of them due")
        began = time.perf_counter()
        loaded = _load(app, size, plan, progress)
        metrics["load_s"] = round(time.perf_counter() - began, 1)
        shared["cases_count"] = loaded.cases
        _analyze(app)
        _check_due(app, loaded, n)

        progress(f"{backend.database}: in-process baseline: sweep, then run_clocks on batches of {BATCH}; "
                 f"load average {load_average()}")
        sweep_ms, inprocess_s, notes = _in_process(app, loaded)
        _check_handled(app, loaded, backend.database)
        metrics[f"sweep_{n}_ms"] = round(sweep_ms, 1)
        metrics[f"inprocess_{n}_s"] = round(inprocess_s, 2)
        metrics["notifications_count"] = notes
        metrics["notified_clocks_count"] = len(_notified_clocks(app))
        progress(f"  sweep handing out {n}: {sweep_ms:.0f} ms; all {n} handled in {inprocess_s:.2f} s "
                 f"({notes} notifications)")

        samples = _empty_sweeps(app, size.empty_sweeps)
        metrics["empty_sweep_ms"] = round(median(samples), 2)
        metrics["empty_sweep_max_ms"] = round(max(samples), 2)
        progress(f"  empty sweep: median {median(samples):.2f} ms, max {max(samples):.2f} ms "
                 f"over {len(samples)} calls (target: under 50 ms)")

        _reset(app, loaded)
        _analyze(app)
        _check_due(app, loaded, n)

        progress(f"{backend.database}: Celery worker (prefork, concurrency 2, broker {backend.broker}); "
                 f"load average {load_average()}")
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

        _reset(app, loaded)
        _analyze(app)
        _check_due(app, loaded, n)
        if backend.broker == "redis":
            _flush_redis()
        progress(f"{backend.database}: the same with e-mail to an SMTP sink taking {SLOW_SMTP_SECONDS:.0f} s a "
                 f"message: a worker of the clocks' queue and one of the mail queue; load average {load_average()}")
        slow_s, sent = _with_slow_smtp(app, backend, folder, loaded, size, progress)
        slow_notes = _notifications(app)
        _check_handled(app, loaded, backend.database)
        if slow_notes != notes:
            raise RuntimeError(f"{backend.database}: with e-mail the workers wrote {slow_notes} notifications, "
                               f"the in-process run {notes}")
        metrics[f"due_{n}_slow_smtp_s"] = round(slow_s, 2)
        metrics["slow_smtp_vs_due_ratio"] = round(slow_s / due_s, 3)
        metrics["slow_smtp_sent_count"] = sent
        progress(f"  {backend.database}: all {n} due clocks handled in {slow_s:.2f} s with the slow mail server "
                 f"({sent} e-mails answered by then); without e-mail {due_s:.2f} s; ratio {slow_s / due_s:.2f} "
                 "(target: at most 1.10)")
    finally:
        database.engine(app).dispose()
        if backend.broker == "redis":
            _flush_redis()
    return metrics


def _load(app: Flask, size: Size, plan: Plan, progress: Progress) -> Loaded:
    """Migrate, load the demo network, then bulk-insert cases, participants, referrals and clocks."""
    engine = database.engine(app)
    migrate_with_network(app)

    built_at = plan.built_at
    rng = random.Random(SEED)
    with unit_of_work(app) as ctx:
        definition = ctx.definition
        network = Network.read(ctx)
    # Case clocks only: a clock of a subject that is not a case (the Mesa's agreements, the Plan's metas and
    # reports) has no case to hang on; its delivery is tested in tests/mesa and tests/plan.
    keys = sorted(key for key, clock in definition.clocks.items() if clock.subject is None)
    cases = math.ceil(size.clocks / len(keys))
    due_positions = set(rng.sample(range(size.clocks), size.due))

    began = time.perf_counter()
    for first in range(0, cases, CASES_PER_COMMIT):
        rows: dict[str, list[dict[str, Any]]] = {"cases": [], "participants": [], "referrals": [], "meetings": [],
                                                 "agreements": [], "clocks": []}
        for index in range(first, min(cases, first + CASES_PER_COMMIT)):
            case = _case(index, definition, network, built_at, rng, rows)
            for offset, key in enumerate(keys):
                position = index * len(keys) + offset
                if position >= size.clocks:
                    break
                placement = rng.choice(plan.due[key] if position in due_positions else plan.ahead[key])
                _clock(definition.clocks[key], placement, case, network, rng, rows)
        with engine.begin() as connection:
            for table, model in (("cases", Case), ("participants", Participant), ("referrals", Referral),
                                 ("meetings", CaseMeeting), ("agreements", CaseAgreement), ("clocks", CaseClock)):
                if rows[table]:
                    connection.execute(insert(model.__table__), rows[table])
        done = min(cases, first + CASES_PER_COMMIT)
        if done % 5000 < CASES_PER_COMMIT or done == cases:
            progress(f"  {done}/{cases} cases, {min(size.clocks, done * len(keys))} clocks "
                     f"({time.perf_counter() - began:.1f}s)")

    table = CaseClock.__table__
    with engine.connect() as connection:
        due = [dict(row) for row in connection.execute(
            select(table).where(CaseClock.next_at <= built_at).order_by(CaseClock.id)).mappings()]
    return Loaded(built_at, due, cases)


@dataclass(frozen=True)
class Network:
    """Who takes part: each region's focal point, national coordination, the nodes based in each region,
    a staff member of each node (who sent its referrals) and, per referral kind, the (service, node)
    pairs that may receive one and have staff to be told."""

    focal: dict[str, int]
    national: int
    local_nodes: dict[str, list[int]]
    staff: dict[int, int]  # node -> one active user who may open cases there
    receivers: dict[str, list[tuple[str, int]]]
    relation: dict[str, str]  # service -> what its receiving node holds while a referral is live
    initial: str  # a referral's state when sent

    @classmethod
    def read(cls, ctx: Context) -> Network:
        session, d = ctx.session, ctx.definition
        focal = dict(session.execute(select(Assignment.region_code, Assignment.node_id)
                                     .where(Assignment.function == "punto_focal")).tuples().all())
        national = session.scalar(select(Assignment.node_id).where(Assignment.function == "coordinacion_nacional",
                                                                    Assignment.region_code.is_(None)))
        if national is None:
            raise RuntimeError("the demo network has no national coordination")
        staff: dict[int, int] = {}
        for node_id, user_id in session.execute(select(User.node_id, User.id).where(
                User.active, User.role.in_(d.roles_with("case_access"))).order_by(User.id)).tuples():
            staff.setdefault(node_id, user_id)
        local: dict[str, list[int]] = {}
        offering: dict[str, list[int]] = {}
        for node in session.scalars(select(Node).where(Node.active).order_by(Node.id)):
            if node.home_region is not None:
                local.setdefault(node.home_region, []).append(node.id)
            for service in node.services or []:
                if node.id in staff:
                    offering.setdefault(service, []).append(node.id)
        referable = [key for key, service in d.network.services.items() if service.relation]
        kinds = d.network.referrals.kinds if d.network.referrals else {}
        receivers = {kind: [(service, node) for service in (spec.services or referable)
                            for node in offering.get(service, [])]
                     for kind, spec in kinds.items() if not spec.transfers}
        relation = {key: service.relation for key, service in d.network.services.items() if service.relation}
        initial = d.network.referrals.initial if d.network.referrals else "pendiente"
        return cls(focal, national, local, staff, receivers, relation, initial)


def _case(index: int, definition: WorkflowDefinition, network: Network, built_at: dt.datetime,
          rng: random.Random, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A minimal case in its Plan, with the participants the clocks notify (no sealed content)."""
    regions = sorted(network.focal)
    region = regions[index % len(regions)]
    created = built_at - dt.timedelta(days=rng.uniform(1, 120))
    detector = rng.choice(network.local_nodes.get(region) or [network.focal[region]])
    case = {
        "id": uuid.uuid4(), "reference": f"TP-B{index:07d}", "workflow": definition.key,
        "workflow_version": definition.version, "state": "plan_en_ejecucion", "region_code": region,
        "detecting_node_id": detector, "flags": {}, "priority": 0, "intake_token": f"bench-deadlines-{index}",
        "summary": None, "key_version": 1, "version": 1, "created_at": created, "updated_at": created,
        "state_changed_at": created,
    }
    rows["cases"].append(case)
    for relation, node_id in (("nodo_detector", detector), ("punto_focal", network.focal[region]),
                              ("coordinacion_nacional", network.national), ("nodo_lider", network.focal[region])):
        _participant(rows, case, node_id, relation, created)
    return case


def _participant(rows: dict[str, list[dict[str, Any]]], case: dict[str, Any], node_id: int, relation: str,
                 since: dt.datetime) -> None:
    rows["participants"].append({"case_id": case["id"], "node_id": node_id, "relation": relation, "active": True,
                                 "since": since, "until": None})


def _clock(clock: ClockDefinition, placement: Placement, case: dict[str, Any], network: Network,
           rng: random.Random, rows: dict[str, list[dict[str, Any]]]) -> None:
    """One running clock as the build finds it; a clock of one referral gets that referral (in the
    state that starts the clock, with the typed date as its committed date when the clock takes its
    deadline from it) and the receiving node's relation to the case, as sending it gives."""
    subject = ""
    if of_referral(clock):
        subject = str(_referral(clock, placement, case, network, rng, rows))
    elif subject_event(clock.starts_on) is not None:
        subject = str(_meeting(clock, placement, case, network, rows))
    rows["clocks"].append({
        "case_id": case["id"], "clock": clock.key, "subject": subject, "period": 1, "status": RUNNING,
        "started_at": placement.started, "due_at": placement.due_at, "next_at": placement.next_at,
        "step": placement.step, "escalation": 0, "breached_at": None, "stopped_at": None, "stop_reason": None,
        "enqueued_at": None,
    })


def _referral(clock: ClockDefinition, placement: Placement, case: dict[str, Any], network: Network,
              rng: random.Random, rows: dict[str, list[dict[str, Any]]]) -> uuid.UUID:
    states = clock.starts_on["referral_state"]
    kind, _, state = (states if isinstance(states, str) else states[0]).partition(".")
    choices = network.receivers.get(kind)
    if not choices:
        raise RuntimeError(f"no node with staff can receive a {kind} (clock {clock.key})")
    sender = network.focal[case["region_code"]]
    service, receiver = rng.choice([pair for pair in choices if pair[1] != sender] or choices)
    answered = None if state == network.initial else placement.started  # the clock started when it was answered
    created = placement.started - (dt.timedelta(days=1) if answered else dt.timedelta())
    referral_id = uuid.uuid4()
    relation = network.relation[service]
    rows["referrals"].append({
        "id": referral_id, "case_id": case["id"], "kind": kind, "service": service, "relation": relation,
        "from_node_id": sender, "to_node_id": receiver, "state": state,
        "due_on": placement.typed if (clock.deadline_from or "").startswith("referral.") else None,
        "consent_id": None, "override_reason": None, "answer_reason": None, "details": None,
        "created_by_user_id": network.staff[sender], "created_at": created, "answered_at": answered,
        "ended_at": None, "version": 1,
    })
    _participant(rows, case, receiver, relation, created)
    return referral_id


def _meeting(clock: ClockDefinition, placement: Placement, case: dict[str, Any], network: Network,
             rows: dict[str, list[dict[str, Any]]]) -> uuid.UUID:
    """A case meeting the lead node (the focal point) convened with the detecting node (or, when it is the
    same node or has no staff, national coordination) at the clock's deadline; for an agreement's clock, that meeting held
    and its one open agreement, the invited node's task due on the typed date. Sealed columns hold a
    placeholder: the clocks never open them."""
    convener = network.focal[case["region_code"]]
    detector = case["detecting_node_id"]
    invited = detector if detector != convener and detector in network.staff else network.national
    meeting_id, held = uuid.uuid4(), subject_event(clock.starts_on) == "agreement_state"
    convened = placement.started - dt.timedelta(days=7) if held else placement.started
    rows["meetings"].append({
        "id": meeting_id, "case_id": case["id"], "convener_node_id": convener,
        "convener_user_id": network.staff[convener], "invited": [invited],
        "starts_at": placement.started - dt.timedelta(days=1) if held else placement.due_at,
        "modality": "presencial", "token": meeting_id.hex, "data": b"-", "created_at": convened,
        "minutes": b"-" if held else None, "minutes_at": placement.started if held else None,
        "minutes_user_id": network.staff[convener] if held else None,
        "cancelled_at": None, "cancelled_user_id": None, "cancel_reason": None,
    })
    if not held:
        return meeting_id
    agreement_id = uuid.uuid4()
    rows["agreements"].append({
        "id": agreement_id, "case_id": case["id"], "meeting_id": meeting_id, "position": 0,
        "responsible_node_id": invited, "due_on": placement.typed, "data": b"-", "status": "abierto",
        "created_at": placement.started, "done_at": None, "done_user_id": None, "done_note": None,
    })
    return agreement_id


# -- where each clock stands at the build: the product's own schedule ----------------------------------


@dataclass(frozen=True)
class Plan:
    """Where each clock of the definition can stand at `built_at`: the placements its rows are drawn
    from, due and ahead (computed once; both databases are built from it)."""

    built_at: dt.datetime
    due: dict[str, list[Placement]]
    ahead: dict[str, list[Placement]]


def _plan(app: Flask) -> Plan:
    built_at = utcnow()
    with unit_of_work(app) as ctx:  # the definition and its calendar: no query
        clocks, calendar = ctx.definition.clocks, calendar_of(ctx)
    database.engine(app).dispose()
    clocks = {key: clock for key, clock in clocks.items() if clock.subject is None}  # case clocks (see _load)
    return Plan(built_at, {key: _placements(clock, calendar, built_at, due=True) for key, clock in clocks.items()},
                {key: _placements(clock, calendar, built_at, due=False) for key, clock in clocks.items()})


@dataclass(frozen=True)
class Placement:
    """One way a clock can be running at the build: period 1 started at `started`, with the date typed
    into its starting step (`typed`, for a clock whose deadline is such a date), `step` steps already
    handled and the next one falling at `next_at`."""

    started: dt.datetime
    typed: dt.date | None
    due_at: dt.datetime
    step: int
    next_at: dt.datetime


def _placements(clock: ClockDefinition, calendar: WorkingCalendar, now: dt.datetime, due: bool) -> list[Placement]:
    """Placements of `clock` checked against its real schedule (`referral.workflow.clocks.schedule`,
    the deadline of a typed date by `deadline_given`, as a step starting the clock computes them):
    for `due`, a step came at least PAST_MARGIN before `now` and the one after it is at least
    FUTURE_MARGIN after it; otherwise the next step is at least FUTURE_MARGIN after `now`. Steps
    before it, already handled, are only the arrival notice and advance reminders."""
    found: list[Placement] = []
    wanted = DUE_PLACEMENTS if due else AHEAD_PLACEMENTS
    for started, typed in _candidates(clock, calendar, now):
        deadline = _typed_deadline(clock, typed, calendar)
        if deadline is not None and deadline <= started:
            continue  # a date already past when the step was taken starts no clock
        steps = schedule(clock, started, calendar, deadline)
        index = _position(clock, started, deadline, steps, calendar, now, due)
        if index is not None:
            found.append(Placement(started, typed, due_time(clock, started, calendar, deadline), index,
                                   steps[index].at))
            if len(found) >= wanted:
                return found
    if not found:
        raise RuntimeError(f"no start puts clock {clock.key} {'due' if due else 'ahead'} at {now:%Y-%m-%d %H:%M}")
    return found


def _candidates(clock: ClockDefinition, calendar: WorkingCalendar,
                now: dt.datetime) -> Iterator[tuple[dt.datetime, dt.date | None]]:
    """Start moments up to `now` (a spread of minutes within each hour: a clock of a few hours, such as
    an emergency referral's answer, started in the last hour), and for a clock whose deadline is a
    typed date, that date, from today on."""
    base = now.replace(second=0, microsecond=0)
    if clock.deadline_from is None:
        for hours in range(_horizon_hours(clock, base, calendar)):
            for minutes in START_MINUTES:
                yield base - dt.timedelta(hours=hours, minutes=minutes), None
        return
    today = now.astimezone(calendar.timezone).date()
    for days in range(400):
        for hours in TYPED_START_HOURS:
            for minutes in START_MINUTES:
                yield base - dt.timedelta(hours=hours, minutes=minutes), today + dt.timedelta(days=days)


def _horizon_hours(clock: ClockDefinition, base: dt.datetime, calendar: WorkingCalendar) -> int:
    """How far back a start can be and still have a step of its first period (or, for a repeating
    clock, of the next) near `base`: twice the span of a schedule starting then, and two days."""
    span = schedule(clock, base, calendar)[-1].at - base
    if clock.repeats:
        span += due_time(clock, base, calendar) - base
    return int(2 * span / dt.timedelta(hours=1)) + 48


def _typed_deadline(clock: ClockDefinition, typed: dt.date | None, calendar: WorkingCalendar) -> dt.datetime | None:
    """The deadline the starting step derives from the typed date (the product's `deadline_given`)."""
    if clock.deadline_from is None or typed is None:
        return None
    return deadline_given(clock, {clock.deadline_from.partition(".")[2]: typed}, calendar)


def _position(clock: ClockDefinition, started: dt.datetime, deadline: dt.datetime | None, steps: tuple[Step, ...],
              calendar: WorkingCalendar, now: dt.datetime, due: bool) -> int | None:
    """The step the clock is at (see `_placements`), or None if it cannot be placed so."""
    for index, step in enumerate(steps):
        if due and step.at <= now - PAST_MARGIN and \
                _following(clock, started, deadline, steps, index, calendar) >= now + FUTURE_MARGIN:
            return index
        if not due and step.at >= now + FUTURE_MARGIN:
            return index
        if step.kind not in HANDLED_BEFORE or step.at > now - PAST_MARGIN:
            return None
    return None


def _following(clock: ClockDefinition, started: dt.datetime, deadline: dt.datetime | None,
               steps: tuple[Step, ...], index: int, calendar: WorkingCalendar) -> dt.datetime:
    """When the step after `index` falls (a repeating clock's next period starts at its deadline)."""
    if index + 1 < len(steps):
        return steps[index + 1].at
    if clock.repeats:
        return schedule(clock, due_time(clock, started, calendar, deadline), calendar, deadline)[0].at
    return dt.datetime.max.replace(tzinfo=dt.UTC)


def _analyze(app: Flask) -> None:
    engine = database.engine(app)
    refresh_statistics(engine)
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


def _notified_clocks(app: Flask) -> set[int]:
    """Clocks that wrote at least one notification."""
    with database.engine(app).connect() as connection:
        return set(connection.scalars(select(Notification.clock_id).distinct()))


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
    told = _notified_clocks(app)
    if len(told) != len(loaded.due):
        silent = sorted({row["clock"] for row in loaded.due if row["id"] not in told})
        raise RuntimeError(f"{len(loaded.due) - len(told)} of {len(loaded.due)} due clocks notified nobody "
                           f"(clocks {', '.join(silent)}: a relation, or a referral's, meeting's or agreement's "
                           "party, found no staff)")
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
    """What a production worker is given (bench/support.py `cli_environment`), and the broker."""
    environment = cli_environment(backend.url, folder / "instance")
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
        _wait_handled(app, loaded, [(worker, log_path)], sent, size, progress)
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


def _wait_handled(app: Flask, loaded: Loaded, workers: list[tuple[subprocess.Popen[bytes], Path]], sent: float,
                  size: Size, progress: Progress, more: Callable[[], str] = lambda: "") -> None:
    """Wait until every due clock is handled (the sweep was sent at `sent`); fail if a worker exits or the run
    takes longer than size.timeout_s, with the log of the worker concerned (the first: the clocks')."""
    last_report, remaining = sent, len(loaded.due)
    while remaining:
        time.sleep(POLL_SECONDS)
        remaining = _remaining(app, loaded)
        now = time.perf_counter()
        for worker, log_path in workers:
            if worker.poll() is not None:
                raise RuntimeError(f"a worker exited ({worker.returncode}) with {remaining} clocks left; "
                                   f"its log: {_tail(log_path)}")
        if now - sent > size.timeout_s:
            raise RuntimeError(f"{remaining} of {len(loaded.due)} clocks still due after {size.timeout_s:.0f} s; "
                               f"clocks worker log: {_tail(workers[0][1])}")
        if now - last_report >= 5:
            progress(f"  {len(loaded.due) - remaining}/{len(loaded.due)} handled after {now - sent:.1f} s{more()}")
            last_report = now


class SlowSMTP:
    """An SMTP sink on 127.0.0.1 (aiosmtpd) that takes SLOW_SMTP_SECONDS to answer each message, then
    accepts it: a mail server that answers slowly. Counts what it accepted."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.accepted = 0
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        await asyncio.sleep(SLOW_SMTP_SECONDS)
        with self._lock:
            self.accepted += 1
        return "250 OK"

    def environment(self) -> dict[str, str]:
        return {"REFERRAL_SMTP_HOST": "127.0.0.1", "REFERRAL_SMTP_PORT": str(self.port),
                "REFERRAL_SMTP_SECURITY": "none", "REFERRAL_SMTP_TIMEOUT_SECONDS": "30",
                "REFERRAL_BASE_URL": "https://protocolo.example.cl"}

    def __enter__(self) -> SlowSMTP:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


def _with_slow_smtp(app: Flask, backend: Backend, folder: Path, loaded: Loaded, size: Size,
                    progress: Progress) -> tuple[float, int]:
    """Start a worker of each queue with e-mail on to a slow SMTP sink, send the sweep, wait until every
    due clock is handled; (seconds, e-mails the sink had answered by then)."""
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    with SlowSMTP() as sink:
        environment = {**_worker_environment(backend, folder), **sink.environment()}
        try:
            for queue, concurrency in ((CLOCKS_QUEUE, 2), (MAIL_QUEUE, 1)):
                log_path = folder / f"worker-{queue}.log"
                command = [sys.executable, "-m", "celery", "-A", "referral.worker", "worker", "-Q", queue,
                           "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
                           "--hostname", f"bench-deadlines-{queue}-{os.getpid()}@%h"]
                with log_path.open("wb") as log:
                    workers.append((subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log,
                                                     stderr=subprocess.STDOUT, start_new_session=True), log_path))
            for worker, log_path in workers:
                _wait_ready(worker, log_path)
            progress("  both workers ready; sending the sweep task")
            celery = app.extensions["celery"]
            sent = time.perf_counter()
            celery.send_task("referral.clocks.sweep")
            _wait_handled(app, loaded, workers, sent, size, progress, lambda: f" ({sink.accepted} e-mails answered)")
            handled_s = time.perf_counter() - sent
            accepted = sink.accepted
            celery.close()
            log = workers[1][1].read_text(errors="replace")
            if "Task referral.clocks.email[" not in log:
                raise RuntimeError(f"the mail worker received no e-mail task: {_tail(workers[1][1])}")
            return handled_s, accepted
        finally:
            if len(workers) > 1:  # the mail worker is in a slow conversation: no warm shutdown to wait for
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(workers[1][0].pid, signal.SIGKILL)
            for worker, _ in workers:
                _stop(worker)


def _backlog(backend: Backend) -> int:
    """Messages in the broker not yet finished by the worker (queued, or taken and not acknowledged)."""
    if backend.broker == "redis":
        import redis

        client = redis.Redis.from_url(backend.broker_url, socket_connect_timeout=3)
        try:
            return int(client.llen(CLOCKS_QUEUE)) + int(client.hlen("unacked"))  # kombu's key for unacknowledged
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


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
