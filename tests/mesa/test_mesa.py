"""The Mesa Intersectorial's sessions (issue 18 part 2): the Secretaría Técnica records a session of the national or a
regional Mesa with its agreements; each agreement runs on the clock `acuerdo_mesa_intersectorial` (a clock whose
subject is not a case): its responsible institution is told at once and before the date, the secretariat when it is
late; the responsible institution's focal point marks it done and the clock stops. `count_minutes` counts sessions
with minutes for the Plan's indicators.

Time: the `clock` fixture starts at T0 = 2026-11-18 15:00 UTC (Wednesday noon in Santiago); `tick` moves it,
sweeps and runs what is due, as beat and a worker would.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.auth.models import User
from referral.kernel.errors import AccessDenied, InvalidInput
from referral.clocks.mail import MailSettings, compose
from referral.clocks.models import RUNNING, STOPPED, CaseClock, Notification
from referral.clocks.reading import notifications_page
from referral.clocks.subjects import start_subject_clock, stop_subject_clock, subject_clocks
from referral.mesa.models import DONE, MesaAgreement, MesaMeeting
from referral.mesa.service import (
    SUBJECT_KIND, AgreementAlreadyDone, AgreementInput, MeetingAlreadyRecorded, MeetingInput, NotResponsible,
    complete_agreement, count_minutes, mesa_of, record_meeting,
)

from ..backends import both_backends
from ..clocks import tick
from ..steps import node_id, user
from ..units import unit_of_work

UTC = dt.UTC
SANTIAGO = ZoneInfo("America/Santiago")
T0 = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
MINUTES = "Acta reservada: la PDI informó el operativo de Quilicura y la coordinación con fiscalía."
AGREEMENT = "SernamEG propone cupos adicionales de casa de acogida en Maipú."
DUE_ON = dt.date(2026, 12, 15)  # a Tuesday; the reminder five working days before falls on Monday 8 December

CLOCK = "acuerdo_mesa_intersectorial"  # Chile's clock of the Mesa's agreements (workflows/chile)


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=SANTIAGO).astimezone(UTC)


def record(app: Any, key: str = "nacional", by: str = "secretaria.mesa", minutes: str = MINUTES,
           agreements: tuple[AgreementInput, ...] | None = None, token: str | None = None,
           held_on: dt.date = dt.date(2026, 11, 17)) -> tuple[int, list[int]]:
    with unit_of_work(app) as ctx:
        sernameg, sermig = node_id(app, "SERNAMEG"), node_id(app, "SERMIG")
        items = agreements if agreements is not None else (AgreementInput(AGREEMENT, sernameg, DUE_ON),)
        meeting = record_meeting(ctx, user(ctx, by), mesa_of(ctx, key),
                                 MeetingInput(held_on, (sernameg, sermig), minutes, items), token or uuid.uuid4().hex)
        ctx.session.commit()
        ids = list(ctx.session.scalars(select(MesaAgreement.id).where(MesaAgreement.meeting_id == meeting.id)))
        return meeting.id, ids


def told(app: Any) -> list[tuple[str, str, str, int]]:
    """(user, clock, kind, level) of every notification of a subject that is not a case."""
    with unit_of_work(app) as ctx:
        return sorted((email.removesuffix("@demo.cl"), clock, kind, level) for email, clock, kind, level in
                      ctx.session.execute(select(User.email, Notification.clock, Notification.kind, Notification.level)
                                          .join(User, User.id == Notification.user_id)
                                          .where(Notification.case_id.is_(None))))


def clock_row(app: Any, agreement_id: int) -> CaseClock:
    with unit_of_work(app) as ctx:
        row = subject_clocks(ctx, CLOCK, SUBJECT_KIND, [str(agreement_id)])[str(agreement_id)]
        ctx.session.expunge(row)
        return row


# -- recording a session ---------------------------------------------------------------------------------------

@both_backends
def test_the_secretariat_records_a_session_and_each_agreement_starts_its_clock(app: Any) -> None:
    meeting_id, (agreement_id,) = record(app)
    row = clock_row(app, agreement_id)
    assert (row.case_id, row.subject_kind, row.status) == (None, SUBJECT_KIND, RUNNING)
    assert row.due_at == end_of_day(DUE_ON)
    assert row.parties == {"institucion_responsable": [node_id(app, "SERNAMEG")],
                           "institucion_que_coordina": [node_id(app, "SERMIG")]}
    with unit_of_work(app) as ctx:
        meeting = ctx.session.get(MesaMeeting, meeting_id)
        assert (meeting.mesa, meeting.region_code, meeting.minutes) == ("nacional", None, MINUTES)


def test_a_regional_session_belongs_to_its_region(app: Any) -> None:
    meeting_id, _ = record(app, "CL-RM", agreements=())
    with unit_of_work(app) as ctx:
        assert (ctx.session.get(MesaMeeting, meeting_id).mesa,
                ctx.session.get(MesaMeeting, meeting_id).region_code) == ("regional", "CL-RM")


@pytest.mark.parametrize("by", ["mesa.focal.sernameg", "auditor", "coordinador.rm", "administrador"])
def test_only_the_secretariat_records_a_session(app: Any, by: str) -> None:
    with pytest.raises(AccessDenied):
        record(app, by=by)
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(MesaMeeting.id)) is None
        assert ctx.session.scalar(select(CaseClock.id).where(CaseClock.case_id.is_(None))) is None


def test_the_same_page_sent_twice_records_one_session(app: Any) -> None:
    token = uuid.uuid4().hex
    record(app, token=token)
    with pytest.raises(MeetingAlreadyRecorded):
        record(app, token=token)
    with unit_of_work(app) as ctx:
        assert len(list(ctx.session.scalars(select(MesaMeeting.id)))) == 1
        assert len(list(ctx.session.scalars(select(CaseClock.id).where(CaseClock.case_id.is_(None))))) == 1


@pytest.mark.parametrize("agreements,held_on,field", [
    ((AgreementInput("Sin responsable", None, DUE_ON),), dt.date(2026, 11, 17), "agreements-0-text"),
    ((AgreementInput("Antes de la sesión", 1, dt.date(2026, 11, 1)),), dt.date(2026, 11, 17), "agreements-0-due_on"),
    ((), dt.date(2026, 11, 30), "held_on"),  # a session in the future
])
def test_bad_input_records_nothing(app: Any, agreements: tuple[AgreementInput, ...], held_on: dt.date,
                                   field: str) -> None:
    if agreements and agreements[0].responsible == 1:
        agreements = (AgreementInput(agreements[0].text, node_id(app, "SERNAMEG"), agreements[0].due_on),)
    with pytest.raises(InvalidInput) as refused:
        record(app, agreements=agreements, held_on=held_on)
    assert field in refused.value.errors
    with unit_of_work(app) as ctx:
        assert ctx.session.scalar(select(MesaMeeting.id)) is None


# -- the agreement's clock ---------------------------------------------------------------------------------------

def test_the_responsible_institution_is_told_reminded_and_the_secretariat_told_when_late(app: Any) -> None:
    _, (agreement_id,) = record(app)
    tick(app, T0 + dt.timedelta(minutes=1))
    assert told(app) == [("mesa.focal.sernameg", CLOCK, "started", 0)]  # not the case workers of SernamEG
    tick(app, dt.datetime(2026, 12, 8, 4, 0, tzinfo=UTC))  # Monday 8 December 00:00 local has passed
    assert ("mesa.focal.sernameg", CLOCK, "reminder", 0) in told(app)
    tick(app, end_of_day(DUE_ON) + dt.timedelta(hours=2))
    assert told(app) == sorted([
        ("mesa.focal.sernameg", CLOCK, "started", 0), ("mesa.focal.sernameg", CLOCK, "reminder", 0),
        ("mesa.focal.sernameg", CLOCK, "due", 0), ("secretaria.mesa", CLOCK, "escalation", 1),
    ])
    row = clock_row(app, agreement_id)
    assert (row.status, row.escalation, row.breached_at) == (RUNNING, 1, end_of_day(DUE_ON))
    tick(app, end_of_day(DUE_ON) + dt.timedelta(days=3))
    assert len(told(app)) == 4  # nothing more until it is done


def test_marking_it_done_stops_its_clock_in_time(app: Any) -> None:
    _, (agreement_id,) = record(app)
    with unit_of_work(app) as ctx:
        complete_agreement(ctx, user(ctx, "mesa.focal.sernameg"), agreement_id)
        ctx.session.commit()
    row = clock_row(app, agreement_id)
    assert (row.status, row.stop_reason, row.met) == (STOPPED, "stop_event", True)
    tick(app, end_of_day(DUE_ON) + dt.timedelta(hours=2))
    assert told(app) == []


def test_a_focal_point_of_another_institution_cannot_mark_it_done_and_nothing_is_written(app: Any) -> None:
    _, (agreement_id,) = record(app)
    with unit_of_work(app) as ctx:
        before = ctx.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    with unit_of_work(app) as ctx, pytest.raises(NotResponsible):
        complete_agreement(ctx, user(ctx, "mesa.focal.pdi"), agreement_id)
    with unit_of_work(app) as ctx:
        assert ctx.session.get(MesaAgreement, agreement_id).status == "abierto"
        assert ctx.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == before
    assert clock_row(app, agreement_id).status == RUNNING


def test_the_secretariat_may_mark_any_agreement_done_and_only_once(app: Any) -> None:
    _, (agreement_id,) = record(app)
    with unit_of_work(app) as ctx:
        complete_agreement(ctx, user(ctx, "secretaria.mesa"), agreement_id)
        ctx.session.commit()
    with unit_of_work(app) as ctx, pytest.raises(AgreementAlreadyDone):
        complete_agreement(ctx, user(ctx, "mesa.focal.sernameg"), agreement_id)
    with unit_of_work(app) as ctx:
        assert ctx.session.get(MesaAgreement, agreement_id).status == DONE


def test_nothing_of_the_minutes_or_the_agreement_reaches_the_audit_log_notifications_or_email(app: Any) -> None:
    _, (agreement_id,) = record(app)
    created = tick(app, end_of_day(DUE_ON) + dt.timedelta(hours=2), email=True)
    with unit_of_work(app) as ctx:
        complete_agreement(ctx, user(ctx, "mesa.focal.sernameg"), agreement_id)
        ctx.session.commit()
    settings = MailSettings("smtp.invalid", 25, "none", None, None, "avisos@demo.cl", "https://red.example", 5.0)
    with unit_of_work(app) as ctx:
        events = [json.dumps({"action": e.action, "subject": e.subject, "details": e.details}, ensure_ascii=False)
                  for e in ctx.session.scalars(select(AuditEvent))]
        assert any("mesa.sesion.registrar" in e for e in events) and any("mesa.acuerdo.cumplir" in e for e in events)
        mails = [compose(ctx.session.get(Notification, note_id), ctx.definition, settings, ctx.timezone).as_string()
                 for note_id in created]
        page = notifications_page(ctx, user(ctx, "mesa.focal.sernameg"), "es")
    texts = events + mails + [f"{n.title} {n.body}" for n in page.items]
    assert mails and page.items
    assert f"/mesa/acuerdos/{agreement_id}" in mails[0] and page.items[0].link == f"/mesa/acuerdos/{agreement_id}"
    for text in texts:
        for secret in (MINUTES, AGREEMENT, "Quilicura", "Maipú"):
            assert secret not in text, text


# -- the API for other subjects (the Plan's metas) -----------------------------------------------------------------

def test_a_meta_clock_restarts_on_a_new_date_and_stops_when_met(app: Any) -> None:
    pdi, sermig = node_id(app, "PDI-BITRAP-CL-RM"), node_id(app, "SERMIG")
    with unit_of_work(app) as ctx:
        first = start_subject_clock(ctx, "meta_plan_accion", "meta_plan", "42", dt.date(2027, 3, 31), [pdi], [sermig])
        same = start_subject_clock(ctx, "meta_plan_accion", "meta_plan", "42", dt.date(2027, 3, 31), [pdi], [sermig])
        assert same is first
        moved = start_subject_clock(ctx, "meta_plan_accion", "meta_plan", "42", dt.date(2027, 6, 30), [pdi], [sermig])
        assert (first.status, first.stop_reason, moved.period) == (STOPPED, "replaced", 2)
        with pytest.raises(ValueError):
            start_subject_clock(ctx, "meta_plan_accion", "acuerdo_mesa", "42", dt.date(2027, 6, 30), [pdi])
        assert stop_subject_clock(ctx, "meta_plan_accion", "meta_plan", "42")
        assert not stop_subject_clock(ctx, "meta_plan_accion", "meta_plan", "42")
        ctx.session.commit()


# -- counting minutes for the Plan's indicators ---------------------------------------------------------------------

def test_count_minutes_counts_sessions_with_minutes_by_mesa_region_and_period(app: Any) -> None:
    record(app, "nacional", held_on=dt.date(2026, 3, 10))
    record(app, "nacional", held_on=dt.date(2026, 9, 2))
    record(app, "nacional", minutes="", held_on=dt.date(2026, 9, 20))  # no minutes yet: not counted
    record(app, "CL-RM", held_on=dt.date(2026, 10, 5), agreements=())
    record(app, "CL-TA", held_on=dt.date(2026, 10, 6), agreements=())
    with unit_of_work(app) as ctx:
        s = ctx.session
        assert count_minutes(s) == 4
        assert count_minutes(s, mesa="nacional") == 2
        assert count_minutes(s, mesa="regional") == 2
        assert count_minutes(s, region="CL-RM") == 1
        assert count_minutes(s, start=dt.date(2026, 7, 1), end=dt.date(2026, 12, 31)) == 3
        assert count_minutes(s, mesa="nacional", start=dt.date(2026, 1, 1), end=dt.date(2026, 6, 30)) == 1


def test_the_demo_has_sessions_of_the_national_and_a_regional_mesa_with_agreements_on_clocks(app: Any) -> None:
    from referral.demo.loader import load_demo

    load_demo(app, cases=0, seed=1, progress=lambda _: None)
    with unit_of_work(app) as ctx:
        meetings = list(ctx.session.scalars(select(MesaMeeting)))
        assert sorted((m.mesa, m.region_code) for m in meetings) == [
            ("nacional", None), ("nacional", None), ("regional", "CL-RM")]
        assert count_minutes(ctx.session) == 2
        agreements = list(ctx.session.scalars(select(MesaAgreement.id)))
        assert len(agreements) == 4
        clocks = subject_clocks(ctx, CLOCK, SUBJECT_KIND, [str(a) for a in agreements])
        assert len(clocks) == 4 and {c.status for c in clocks.values()} == {RUNNING}
