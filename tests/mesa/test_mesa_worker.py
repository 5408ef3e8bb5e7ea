"""A Mesa's agreement on a real Celery worker and beat (Redis with PostgreSQL, the embedded broker with SQLite): the
same sweep that runs the cases' clocks tells the responsible institution that its agreement is overdue and escalates
to the secretariat, once each, and nothing of the minutes or the agreement reaches a task message or a worker's log.

"Time travel" moves the world, not the worker's clock: the session is recorded as if two hours ago, with an
agreement due two days ago, and the worker (on real time) finds its deadline and escalation due.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from referral.auth.models import User
from referral.clocks.models import CaseClock, Notification
from referral.db import utcnow
from referral.mesa.service import AgreementInput, MeetingInput, complete_agreement, mesa_of, record_meeting

from ..clocks.harness import celery_processes, wait_for
from ..clocks.test_worker import BOTH, _messages, broker_url, settle
from ..steps import node_id, user
from ..units import unit_of_work

MINUTES = "Acta reservada: operativo coordinado en Quilicura con la fiscalía regional."
AGREEMENT = "Carabineros entrega el protocolo de derivación revisado en Maipú."


def told(app: Any) -> list[tuple[str, str, int]]:
    with unit_of_work(app) as ctx:
        return sorted((email.removesuffix("@demo.cl"), kind, level) for email, kind, level in ctx.session.execute(
            select(User.email, Notification.kind, Notification.level).join(User, User.id == Notification.user_id)
            .where(Notification.case_id.is_(None))))


@BOTH
def test_a_real_worker_tells_the_responsible_institution_and_escalates_a_late_agreement_once(
        app: Any, database_url: str, tmp_path: Path, broker: str) -> None:
    now = utcnow()
    local_today = now.astimezone(app.extensions["referral.timezone"]).date()
    with unit_of_work(app) as ctx:
        ctx.clock = lambda: now - dt.timedelta(hours=2)
        meeting = record_meeting(ctx, user(ctx, "secretaria.mesa"), mesa_of(ctx, "nacional"), MeetingInput(
            local_today - dt.timedelta(days=10), (node_id(app, "SERNAMEG"),), MINUTES,
            (AgreementInput(AGREEMENT, node_id(app, "SERNAMEG"), local_today - dt.timedelta(days=2)),)),
            uuid.uuid4().hex)
        ctx.session.commit()
        meeting_id = meeting.id

    url = broker_url(broker, tmp_path)
    with celery_processes(database_url, tmp_path / "celery", url) as celery:
        celery.worker(concurrency=2)
        celery.beat()
        wait_for(lambda: ("secretaria.mesa", "escalation", 1) in told(app), 60, "the escalation to the secretariat")
        settle()
        # the advance reminder and the «Nuevo plazo» notice are moot once the date has passed: only these two
        assert told(app) == [("mesa.focal.sernameg", "due", 0), ("secretaria.mesa", "escalation", 1)]
        for text in _messages(broker, url) + [celery.log_text()]:
            assert "Quilicura" not in text and "Maipú" not in text

    with unit_of_work(app) as ctx:
        ctx.clock = utcnow  # marked done now, on real time: after its date
        row = ctx.session.scalar(select(CaseClock).where(CaseClock.case_id.is_(None)))
        assert (row.status, row.escalation, row.next_at) == ("running", 1, None)  # overdue until it is done
        agreement_id = int(row.subject)
        complete_agreement(ctx, user(ctx, "mesa.focal.sernameg"), agreement_id)
        ctx.session.commit()
        row = ctx.session.scalar(select(CaseClock).where(CaseClock.case_id.is_(None)))
        assert (row.status, row.met) == ("stopped", False)  # done, late
        assert meeting_id
