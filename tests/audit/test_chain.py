"""The audit log's hash chain: every step, login and read of a case is an event; `flask audit verify`
names the first broken link when an event is edited, deleted or reordered, or the newest are cut off."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from referral.audit.models import AuditEvent
from referral.audit.service import pseudonym, verify_log
from referral.workflow import TransitionRefused

from ..backends import both_backends
from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES
from ..steps import activate, case_id, file_case, fire
from ..units import unit_of_work


def events(app: Any) -> list[AuditEvent]:
    with unit_of_work(app) as ctx:
        rows = list(ctx.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        ctx.session.expunge_all()
    return rows


def verify(app: Any) -> tuple[int, Any]:
    with unit_of_work(app) as ctx:
        return verify_log(ctx.session, batch=3)  # small batches: the walk crosses batch borders


def cli(app: Any) -> Any:
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def tamper(app: Any, statement: Any) -> None:
    with unit_of_work(app) as ctx:
        ctx.session.execute(statement)
        ctx.session.commit()


def a_history(app: Any, make_browser: Any) -> str:
    reference = file_case(app)
    activate(app, reference)
    browser = make_browser()
    browser.login("coordinador.rm")
    assert browser.get(f"/casos/{reference}").status_code == 200
    assert browser.get(f"/casos/{reference}/formularios/ficha").status_code == 200
    make_browser().login("coordinador.rm", password="not-the-password")
    return reference


@both_backends
def test_steps_logins_and_reads_are_chained_events_without_personal_data(app: Any, make_browser: Any) -> None:
    reference = a_history(app, make_browser)
    rows = events(app)
    actions = [e.action for e in rows]
    assert actions[:4] == ["intake.ficha", "transition.tomar_caso", "transition.activar", "login.ok"]
    assert actions[4:] == ["read", "read", "login.failed"]
    assert [e.seq for e in rows] == list(range(1, len(rows) + 1))
    with unit_of_work(app) as ctx:
        name = pseudonym(ctx, case_id(app, reference))
    case_events = [e for e in rows if e.case_pseudonym]
    assert {e.case_pseudonym for e in case_events} == {name}  # one stable pseudonym
    assert name != reference and case_id(app, reference).hex not in name
    read = rows[5]
    assert (read.actor_role, read.details) == ("coordinador", {"page": "form:ficha", "revision": 1})
    assert rows[-1].actor_role is None and rows[-1].actor_node_id is None  # a failed login names nobody
    text = repr([(e.action, e.actor_role, e.case_pseudonym, e.subject, e.details) for e in rows])
    for secret in (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE, reference, "coordinador.rm"):
        assert secret not in text
    assert verify(app) == (len(rows), None)
    result = cli(app)
    assert result.exit_code == 0 and f"{len(rows)} eventos verificados" in result.output


def test_two_cases_have_two_pseudonyms_and_a_refused_step_leaves_no_event(app: Any) -> None:
    first, second = file_case(app), file_case(app)
    with unit_of_work(app) as ctx:
        assert pseudonym(ctx, case_id(app, first)) != pseudonym(ctx, case_id(app, second))
        assert pseudonym(ctx, uuid.UUID(int=0)) == pseudonym(ctx, uuid.UUID(int=0))
    before = len(events(app))
    with pytest.raises(TransitionRefused):
        fire(app, "coordinador.rm", first, "aprobar_plan")
    assert len(events(app)) == before


@both_backends
def test_an_edited_event_is_named(app: Any, make_browser: Any) -> None:
    a_history(app, make_browser)
    tamper(app, update(AuditEvent).where(AuditEvent.seq == 3).values(actor_role="auditor"))
    _, broken = verify(app)
    assert broken is not None and broken.seq == 3 and "alterado" in broken.reason
    result = cli(app)
    assert result.exit_code == 1 and "cadena rota en el evento 3" in result.output


@both_backends
def test_a_deleted_event_is_named(app: Any, make_browser: Any) -> None:
    a_history(app, make_browser)
    tamper(app, delete(AuditEvent).where(AuditEvent.seq == 4))
    _, broken = verify(app)
    assert broken is not None and broken.seq == 4 and "falta el evento 4" in broken.reason
    assert cli(app).exit_code == 1


@both_backends
def test_reordered_events_are_named(app: Any, make_browser: Any) -> None:
    a_history(app, make_browser)
    rows = {e.seq: e for e in events(app)}
    # swap the contents of events 2 and 3 (keeping each seq): the order of what happened changed
    for seq, other in ((2, rows[3]), (3, rows[2])):
        tamper(app, update(AuditEvent).where(AuditEvent.seq == seq).values(
            action=other.action, at=other.at, details=other.details, prev_hash=other.prev_hash, hash=other.hash))
    _, broken = verify(app)
    assert broken is not None and broken.seq == 2


@both_backends
def test_cutting_off_the_newest_events_is_seen(app: Any, make_browser: Any) -> None:
    a_history(app, make_browser)
    with unit_of_work(app) as ctx:
        last = ctx.session.scalar(select(func.max(AuditEvent.seq)))
    tamper(app, delete(AuditEvent).where(AuditEvent.seq >= last - 1))
    _, broken = verify(app)
    assert broken is not None and broken.seq == last - 1 and "borrado" in broken.reason
    assert cli(app).exit_code == 1


def test_an_empty_log_verifies(app: Any) -> None:
    assert verify(app) == (0, None)
