"""Appends to the audit log from many requests at once take their turn at the chain's head.

SQLite ignores `SELECT ... FOR UPDATE`, and pysqlite sends BEGIN only before the first write: without
taking the write lock before reading the head, two requests read the same head and the second insert
fails on `audit_events.seq` (two statistics exports at once gave a 500). Here real threads append
through their own sessions (as requests and workers do), in the ways the application appends: an event
committed alone (a read, an export, a login) and an event at the end of a step that already wrote rows.
The time between reading the head and writing the event is stretched a little, so that without the lock
the threads would certainly interleave there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from referral.audit import service
from referral.audit.models import AuditEvent, AuditHead
from referral.audit.service import HEAD_ID, record, verify_log
from referral.auth.models import User
from referral.demo.network import DEMO_PASSWORD

from ..backends import both_backends
from ..browser import Browser
from ..units import unit_of_work

THREADS, APPENDS = 8, 4


@pytest.fixture
def slow_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash each link a few milliseconds later: the window between reading the head and inserting."""
    link = service.link

    def slower(previous: bytes, body: bytes) -> bytes:
        time.sleep(0.005)
        return link(previous, body)

    monkeypatch.setattr(service, "link", slower)


def run_together(count: int, work: Callable[[int], None]) -> list[str]:
    """Run `work(i)` in `count` threads started together; the errors they raised, one line each."""
    start = threading.Barrier(count, timeout=30)
    errors: list[str] = []

    def worker(number: int) -> None:
        try:
            start.wait()
            work(number)
        except BaseException as error:  # noqa: BLE001 - reported by the caller's assertion
            errors.append(f"{type(error).__module__}.{type(error).__name__}: {error}".splitlines()[0])

    threads = [threading.Thread(target=worker, args=(n,), name=f"appender-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an append hung (a deadlock?)"
    return errors


def logged(app: Any, action: str) -> list[AuditEvent]:
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                        .order_by(AuditEvent.seq)))
        ctx.session.expunge_all()
    return rows


def assert_chain_whole(app: Any) -> None:
    with unit_of_work(app) as ctx:
        seqs = list(ctx.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, len(seqs) + 1))  # contiguous, no gap, no duplicate
        assert verify_log(ctx.session, batch=7) == (len(seqs), None)


@both_backends
def test_many_sessions_appending_at_once_get_one_contiguous_verified_chain(app: Any, slow_link: None) -> None:
    with unit_of_work(app) as ctx:
        auditor = ctx.session.scalar(select(User).where(User.email == "auditor@demo.cl"))
        user_id, node_id = auditor.id, auditor.node_id

    def appender(number: int) -> None:
        for turn in range(APPENDS):
            with unit_of_work(app) as ctx:
                ctx.session.scalar(select(func.count()).select_from(AuditEvent))  # a view reads first
                if number % 2:  # a step: its transaction has already written rows when it records
                    ctx.session.execute(update(User).where(User.id == user_id)
                                        .values(failed_logins=User.failed_logins)
                                        .execution_options(synchronize_session=False))
                record(ctx, "test.append", role="auditor", node_id=node_id,
                       details={"thread": number, "turn": turn})
                ctx.session.commit()

    assert run_together(THREADS, appender) == []

    appended = logged(app, "test.append")
    assert sorted((e.details["thread"], e.details["turn"]) for e in appended) == \
        [(n, t) for n in range(THREADS) for t in range(APPENDS)]
    assert_chain_whole(app)


@both_backends
@pytest.mark.parametrize(("who", "url", "action"), [
    ("auditor", "/auditoria/estadisticas?formato=csv", "export.audit"),  # the 500 reported
    ("administrador", "/administracion/nodos/exportar", "export.directory"),
])
def test_simultaneous_exports_are_all_served_and_all_logged(app: Any, slow_link: None, who: str, url: str,
                                                            action: str) -> None:
    people = [Browser(app, DEMO_PASSWORD) for _ in range(6)]
    for browser in people:
        assert browser.login(who).status_code == 302
    statuses: list[int] = []

    def export(number: int) -> None:
        statuses.append(people[number].get(url).status_code)

    assert run_together(len(people), export) == []
    assert statuses == [200] * len(people)
    assert len(logged(app, action)) == len(people)
    assert len(logged(app, "login.ok")) == len(people)
    assert_chain_whole(app)


@both_backends
def test_a_session_that_appended_before_reads_the_current_head_when_it_appends_again(app: Any) -> None:
    """Sessions keep their objects across commits: the head one holds must not be taken as current."""
    with unit_of_work(app) as first, unit_of_work(app) as second:
        record(first, "test.append", details={"turn": 0})
        first.session.commit()
        held = first.session.get(AuditHead, HEAD_ID)  # still in this session, as it was at its commit
        record(second, "test.append", details={"turn": 1})
        second.session.commit()
        record(first, "test.append", details={"turn": 2})
        first.session.commit()
        assert held.seq == 3
    assert [e.details["turn"] for e in logged(app, "test.append")] == [0, 1, 2]
    assert_chain_whole(app)
