"""The clocks on a real Celery worker and beat, on Redis with PostgreSQL and on the embedded broker
with SQLite: reminders once, escalation on breach, stop events, and the faults the issue names
(worker killed mid-task, broker flushed or restarted, beat down for an hour).

"Time travel" moves the world, not the worker's clock: a case is filed as if hours ago, or its clock
rows are moved back, and the worker (on real time) finds them due.
"""

from __future__ import annotations

import datetime as dt
import json
import base64
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from referral.auth.models import User
from referral.cases.intake import file_intake
from referral.kernel.models import Case, Participant
from referral.cases.transitions import fire_transition
from referral.clocks.models import CaseClock, Notification
from referral.db import utcnow
from referral.network.models import Node
from referral.queue import broker_settings

from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES, COMPLAINT_MADE, ficha_values
from ..steps import user
from ..units import unit_of_work
from .harness import (
    LEASE_SECONDS, SWEEP_SECONDS, HangingSMTP, RedisServer, celery_processes, redis_db, require_redis, wait_for,
)
from .harness import REDIS_URL as MACHINE_REDIS

PERSONAL = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE)

BOTH = pytest.mark.parametrize(
    "backend,broker",
    [pytest.param("sqlite", "sqlalchemy", id="sqlite-embedded-broker"),
     pytest.param("postgresql", "redis", id="postgresql-redis", marks=pytest.mark.postgres)],
    indirect=["backend"],
)


# -- helpers ------------------------------------------------------------------------------------------

def hand_out(app: Any, url: str, clock: Any) -> None:
    """Run one sweep in this process, publishing to `url`: the clocks are handed out to a broker that
    no worker reads yet (beat only sends the sweep; a worker runs it)."""
    import referral.tasks  # noqa: F401  (registers the tasks)

    clock.now = utcnow()
    celery_app = app.extensions["celery"]
    celery_app.conf.broker_url, celery_app.conf.broker_transport = broker_settings(url)
    celery_app.set_default()
    with app.app_context():
        celery_app.tasks["referral.clocks.sweep"]()


def broker_url(broker: str, tmp_path: Path) -> str:
    if broker == "redis":
        url = f"{MACHINE_REDIS}/{redis_db()}"
        require_redis(url).flushdb()
        return url
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"


def file_case(app: Any, at: dt.datetime, token: str | None = None) -> tuple[str, uuid.UUID]:
    """A Ficha filed by the RM health service at moment `at`."""
    with unit_of_work(app) as ctx:
        ctx.clock = lambda: at
        case = file_intake(ctx, user(ctx, "salud.rm"), ficha_values(**COMPLAINT_MADE), token or uuid.uuid4().hex)
        ctx.session.commit()
        return case.reference, case.id


def activate(app: Any, reference: str, at: dt.datetime) -> None:
    with unit_of_work(app) as ctx:
        ctx.clock = lambda: at
        version = ctx.session.scalar(select(Case.version).where(Case.reference == reference))
        lead = ctx.session.scalar(select(Node.id).where(Node.code == "CAVD-CL-RM"))
        fire_transition(ctx, user(ctx, "coordinador.rm"), reference, "activar",
                        {"nodo_lider": str(lead), "fundamento": "Indicadores claros."}, version)
        ctx.session.commit()


def shift(app: Any, case_id: uuid.UUID, clock: str, **delta: float) -> None:
    """Move a running clock's moments into the past, as if it had started that much earlier."""
    moved = dt.timedelta(**delta)
    with unit_of_work(app) as ctx:
        for row in ctx.session.scalars(select(CaseClock).where(
                CaseClock.case_id == case_id, CaseClock.clock == clock, CaseClock.status == "running")):
            row.started_at, row.due_at = row.started_at - moved, row.due_at - moved
            row.next_at = row.next_at - moved if row.next_at else None
        ctx.session.commit()


def notes(app: Any, case_id: uuid.UUID, clock: str | None = None) -> list[Notification]:
    with unit_of_work(app) as ctx:
        query = select(Notification).where(Notification.case_id == case_id)
        if clock:
            query = query.where(Notification.clock == clock)
        found = list(ctx.session.scalars(query.order_by(Notification.created_at, Notification.step)))
        ctx.session.expunge_all()
        return found


def kinds(found: list[Notification]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for note in found:
        counted[note.kind] = counted.get(note.kind, 0) + 1
    return counted


def staff(app: Any, case_id: uuid.UUID, relation: str) -> set[int]:
    """Ids of the users who may open cases at the node(s) holding `relation` in the case."""
    with unit_of_work(app) as ctx:
        roles = ctx.definition.roles_with("case_access")
        return set(ctx.session.scalars(
            select(User.id).join(Participant, Participant.node_id == User.node_id)
            .where(Participant.case_id == case_id, Participant.relation == relation, Participant.active,
                   User.active, User.role.in_(roles))))


def settle() -> None:
    """Let several sweeps and any duplicate deliveries run (for checks that nothing MORE happens)."""
    time.sleep(max(6 * SWEEP_SECONDS, LEASE_SECONDS + 2 * SWEEP_SECONDS))


# -- the clock on a real worker ---------------------------------------------------------------------------

@BOTH
def test_a_real_worker_reminds_once_escalates_on_breach_and_stops_on_the_right_event(
        app: Any, database_url: str, tmp_path: Path, broker: str) -> None:
    now = utcnow()
    # Filed 19 hours ago: the 6-hours-before reminder of the 24-hour triage is due, the deadline is not.
    _, late = file_case(app, now - dt.timedelta(hours=19))
    # Filed 10 hours ago and activated now: triage stops in time, the Informe Social clock starts.
    activated_ref, activated = file_case(app, now - dt.timedelta(hours=10))
    activate(app, activated_ref, now)
    focal, national = staff(app, late, "punto_focal"), staff(app, late, "coordinacion_nacional")
    lead = staff(app, activated, "nodo_lider")
    assert focal and national and lead

    url = broker_url(broker, tmp_path)
    with celery_processes(database_url, tmp_path / "celery", url) as celery:
        celery.worker(concurrency=2)
        celery.beat()
        wait_for(lambda: kinds(notes(app, late)).get("reminder") == len(focal), 60, "the triage reminder")
        # The same task delivered again, and many more sweeps: still one reminder per person.
        app.extensions["celery"].conf.broker_url, app.extensions["celery"].conf.broker_transport = \
            broker_settings(url)
        with unit_of_work(app) as ctx:
            clock_id = ctx.session.scalar(select(CaseClock.id).where(CaseClock.case_id == late))
        app.extensions["celery"].send_task("referral.clocks.run", args=[[clock_id]])
        app.extensions["celery"].send_task("referral.clocks.run", args=[[clock_id]])
        settle()
        reminded = notes(app, late)
        assert kinds(reminded) == {"reminder": len(focal)}
        assert {n.user_id for n in reminded} == focal

        # 30 hours later: the deadline has passed (overdue notice) and so has the 48-hour escalation.
        shift(app, late, "triaje", hours=30)
        wait_for(lambda: kinds(notes(app, late)).get("escalation") == len(national), 60, "the escalation")
        settle()
        found = notes(app, late)
        assert kinds(found) == {"reminder": len(focal), "due": len(focal), "escalation": len(national)}
        assert {n.user_id for n in found if n.kind == "escalation"} == national
        assert {n.level for n in found if n.kind == "escalation"} == {1}

        # The activated case: triage was stopped by `activar`, so moving it back sends nothing; the
        # Informe Social clock it started is overdue a month later and tells the lead node.
        shift(app, activated, "triaje", days=30)
        shift(app, activated, "informe_social", days=30)
        wait_for(lambda: kinds(notes(app, activated, "informe_social")).get("due") == len(lead), 60,
                 "the Informe Social deadline notice")
        settle()
        assert notes(app, activated, "triaje") == []
        assert {n.user_id for n in notes(app, activated, "informe_social") if n.kind == "due"} == lead

    with unit_of_work(app) as ctx:
        triage = ctx.session.scalar(select(CaseClock).where(CaseClock.case_id == activated,
                                                            CaseClock.clock == "triaje"))
        assert (triage.status, triage.stop_reason, triage.met) == ("stopped", "stop_event", True)
        breached = ctx.session.scalar(select(CaseClock).where(CaseClock.case_id == late))
        assert breached.status == "running" and breached.breached_at is not None and breached.escalation == 1
        assert breached.next_at is None  # nothing more to send; it stays overdue until triage is done


@BOTH
def test_a_worker_killed_in_the_middle_of_a_task_is_replaced_and_the_step_acts_once(
        app: Any, database_url: str, tmp_path: Path, broker: str) -> None:
    """The worker dies while the SMTP server holds its e-mail: the notification exists once, and the
    e-mail is delivered once by the next worker (redelivered message or the lease's next sweep)."""
    _, case_id = file_case(app, utcnow() - dt.timedelta(hours=19))
    focal = staff(app, case_id, "punto_focal")
    url = broker_url(broker, tmp_path)
    with HangingSMTP(hang_first=True) as smtp, \
            celery_processes(database_url, tmp_path / "celery", url, **smtp.settings()) as celery:
        first = celery.worker(concurrency=1)
        celery.beat()
        assert smtp.hanging.wait(60), "the worker never reached the SMTP server"
        celery.kill(first)  # SIGKILL to the worker and its pool, mid-conversation
        found = notes(app, case_id)
        assert kinds(found) == {"reminder": len(focal)}
        assert sum(n.emailed_at is None for n in found) >= 1

        celery.worker(concurrency=1)
        wait_for(lambda: len(smtp.received) == len(focal), 60, "the e-mails after the restart")
        settle()
        assert len(smtp.received) == len(focal)
        found = notes(app, case_id)
        assert kinds(found) == {"reminder": len(focal)}
        assert all(n.emailed_at is not None and not n.email_pending for n in found)
        for raw in smtp.received:
            body = raw.decode("utf-8", errors="replace")
            assert "https://protocolo.example.cl/casos/TP-" in body
            assert not [word for word in PERSONAL if word in body]


@BOTH
def test_a_mail_server_that_hangs_holds_back_no_clock(
        app: Any, database_url: str, tmp_path: Path, broker: str) -> None:
    """The mail server stops answering in the middle of a conversation (as a server at its 30 s timeout
    × 50 messages a task would): the e-mails wait, on their own queue and worker, and the clocks'
    worker keeps sweeping: a clock that falls due meanwhile has its in-app notification within a few
    sweep intervals. (With one queue and one pool, as before, the hung e-mail task held every sweep.)"""
    _, first = file_case(app, utcnow() - dt.timedelta(hours=19))  # the triage reminder: e-mail owed
    focal = staff(app, first, "punto_focal")
    url = broker_url(broker, tmp_path)
    with HangingSMTP(hang_all=True) as smtp, \
            celery_processes(database_url, tmp_path / "celery", url, **smtp.settings()) as celery:
        clocks = celery.worker(concurrency=1, queues="clocks")
        mail = celery.worker(concurrency=1, queues="mail")
        celery.beat()
        wait_for(lambda: kinds(notes(app, first)).get("reminder") == len(focal), 60, "the first reminder")
        assert smtp.hanging.wait(60), "the mail worker never reached the SMTP server"
        # The mail worker is stuck now. A clock falls due (a Ficha filed 25 hours ago, its deadline gone).
        _, second = file_case(app, utcnow() - dt.timedelta(hours=25))
        began = time.monotonic()
        wait_for(lambda: kinds(notes(app, second)).get("due"), 20,
                 "the due clock's notification while the mail server hangs")
        waited = time.monotonic() - began
        assert smtp.received == []  # the mail server is still hanging: nothing was answered
        assert kinds(notes(app, second)) == {"due": len(staff(app, second, "punto_focal"))}
        assert all(n.email_pending for n in notes(app, first) + notes(app, second))  # owed, not lost
        log = celery.log_of(clocks)
        assert "referral.clocks.sweep" in log and "referral.clocks.run" in log
        assert "Task referral.clocks.email[" not in log  # the clocks' worker never takes an e-mail task
        assert "Task referral.clocks.email[" in celery.log_of(mail)  # the mail worker does
    print(f"due clock notified {waited:.1f} s after it was filed, sweep every {SWEEP_SECONDS} s")


@BOTH
def test_a_flushed_broker_loses_nothing_the_clocks_are_handed_out_again_from_the_database(
        app: Any, database_url: str, tmp_path: Path, broker: str, clock: Any) -> None:
    cases = [file_case(app, utcnow() - dt.timedelta(hours=25 + i))[1] for i in range(3)]
    url = broker_url(broker, tmp_path)
    with celery_processes(database_url, tmp_path / "celery", url) as celery:
        hand_out(app, url, clock)  # the clocks are handed out; no worker has run them yet
        assert _handed_out(app, cases)
        assert _queued(broker, url) > 0
        _flush(broker, url)  # every message is gone
        assert _queued(broker, url) == 0
        assert all(notes(app, case) == [] for case in cases)
        celery.worker(concurrency=1)
        celery.beat()
        # After the lease lapses, the sweep hands the same clocks out again.
        wait_for(lambda: all(kinds(notes(app, c)).get("due") for c in cases), 60, "every due clock to fire")
        settle()
        for case in cases:
            focal = staff(app, case, "punto_focal")
            assert kinds(notes(app, case)) == {"due": len(focal)}  # the lapsed reminder is not sent


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_redis_restarted_every_due_clock_still_fires(app: Any, database_url: str, tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        with celery_processes(database_url, tmp_path / "celery", server.url) as celery:
            celery.worker(concurrency=1)
            celery.beat()
            first = file_case(app, utcnow() - dt.timedelta(hours=25))[1]
            wait_for(lambda: kinds(notes(app, first)).get("due"), 60, "a clock before the restart")
            server.crash()  # Redis dies and comes back empty (no persistence)
            during = [file_case(app, utcnow() - dt.timedelta(hours=25 + i))[1] for i in range(3)]
            time.sleep(2 * SWEEP_SECONDS)
            server.start()
            wait_for(lambda: all(kinds(notes(app, c)).get("due") for c in during), 90,
                     "the clocks that fell due while Redis was down")
            settle()
            for case in [first, *during]:
                assert kinds(notes(app, case)) == {"due": len(staff(app, case, "punto_focal"))}
    finally:
        server.stop()


@BOTH
def test_beat_down_for_an_hour_everything_overdue_fires_once_in_order(
        app: Any, database_url: str, tmp_path: Path, broker: str) -> None:
    now = utcnow()
    # Five Fichas whose triage deadlines fell during the hour the beat was down, and one
    # whose deadline is still ahead.
    minutes = [17, 58, 4, 45, 31]  # filed out of order: ids and due times disagree
    overdue = [file_case(app, now - dt.timedelta(hours=24, minutes=m))[1] for m in minutes]
    _, ahead = file_case(app, now - dt.timedelta(hours=1))
    url = broker_url(broker, tmp_path)
    with celery_processes(database_url, tmp_path / "celery", url) as celery:
        celery.worker(concurrency=1)
        celery.beat()
        wait_for(lambda: all(kinds(notes(app, c)).get("due") for c in overdue), 60, "the overdue clocks")
        settle()
    fired = [n for case in overdue for n in notes(app, case)]
    assert all(n.kind == "due" for n in fired)  # the reminders made moot by the deadline are not sent
    for case in overdue:
        assert kinds(notes(app, case)) == {"due": len(staff(app, case, "punto_focal"))}
    in_order = sorted(fired, key=lambda n: n.created_at)
    assert [n.due_at for n in in_order] == sorted(n.due_at for n in fired)
    assert notes(app, ahead) == []


@BOTH
def test_task_messages_carry_ids_only_never_personal_data(
        app: Any, database_url: str, tmp_path: Path, broker: str, clock: Any) -> None:
    cases = [file_case(app, utcnow() - dt.timedelta(hours=25 + i))[1] for i in range(2)]
    url = broker_url(broker, tmp_path)
    with HangingSMTP() as smtp, \
            celery_processes(database_url, tmp_path / "celery", url, **smtp.settings()) as celery:
        hand_out(app, url, clock)
        assert _handed_out(app, cases)
        payloads = _messages(broker, url)
        assert payloads, "no task message found in the broker"
        assert any("referral.clocks.run" in p for p in payloads)
        for payload in payloads:
            assert not [word for word in PERSONAL if word in payload], payload
        celery.worker(concurrency=1)
        celery.beat()
        wait_for(lambda: len(smtp.received) >= 2, 60, "the e-mails")
        settle()
        for payload in _messages(broker, url):  # e-mail tasks too
            assert not [word for word in PERSONAL if word in payload], payload
        logs = celery.log_text()
        assert "referral.clocks.email" in logs
        assert not [word for word in PERSONAL if word in logs]


# -- broker inspection ----------------------------------------------------------------------------------------

def _handed_out(app: Any, cases: list[uuid.UUID]) -> bool:
    with unit_of_work(app) as ctx:
        return all(ctx.session.scalars(select(CaseClock.enqueued_at).where(CaseClock.case_id.in_(cases))))


def _queued(broker: str, url: str) -> int:
    return len(_messages(broker, url))


def _messages(broker: str, url: str) -> list[str]:
    """Every task message the broker holds, decoded (headers, arguments), as text."""
    if broker == "redis":
        import redis

        client = redis.Redis.from_url(url)
        raw = [item for key in client.keys("*") if client.type(key) == b"list" for item in client.lrange(key, 0, -1)]
        raw += list(client.hvals("unacked")) if client.exists("unacked") else []
    else:
        engine = create_engine(url.removeprefix("sqla+"))
        with engine.connect() as connection:
            raw = [row[0] for row in connection.execute(text("SELECT payload FROM kombu_message"))]
        engine.dispose()
    decoded = []
    for item in raw:
        message = json.loads(item if isinstance(item, str) else item.decode())
        if isinstance(message, list):  # unacked entries are [message, exchange, routing key]
            message = message[0]
        body = base64.b64decode(message["body"]).decode() if message.get("properties", {}).get(
            "body_encoding") == "base64" else str(message.get("body"))
        decoded.append(json.dumps(message.get("headers", {})) + body)
    return decoded


def _flush(broker: str, url: str) -> None:
    if broker == "redis":
        import redis

        redis.Redis.from_url(url).flushdb()
        return
    engine = create_engine(url.removeprefix("sqla+"))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM kombu_message"))
    engine.dispose()
