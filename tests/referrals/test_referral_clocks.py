"""The referrals' clocks (workflow.yaml `clocks:` respuesta_derivacion, respuesta_emergencia,
accion_derivada): each belongs to one referral (`CaseClock.subject` is the referral id), started and
stopped by that referral's steps only; reminders go to the referral's parties (receptor, emisor),
escalations to the focal point; closing the case stops them all.

Time: the `clock` fixture starts at T0 = 2026-11-18 15:00 UTC (Wednesday noon in Santiago); `tick`
(tests/clocks) moves it, sweeps and runs what is due, each committed, as beat and a worker do.

Setup: a Metropolitana Ficha filed by policia.rm (complaint already made, so the mandatory-complaint
clock does not run), activated with SERNAMEG (gestor.sernameg) as lead, consent "red". The focal point
CAVD-CL-RM has coordinador.rm and gestor.rm; MINSAL-CL-RM (salud.rm) is outside the case.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from referral.clocks.models import RUNNING, STOPPED, CaseClock
from referral.clocks.service import party_recipients

from ..backends import both_backends
from ..clocks import file_case, notified, tick
from ..steps import activate, case_id, fire, node_id
from ..units import unit_of_work
from . import answer, consent, refer, state_of

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
SANTIAGO = ZoneInfo("America/Santiago")
FOCAL_POINT = ["coordinador.rm", "gestor.rm"]
REFERRAL_CLOCKS = ("respuesta_derivacion", "respuesta_emergencia", "accion_derivada")
# Working-day deadlines fall at the end of the day (local midnight): two working days after Wednesday
# noon is the end of Friday 20 November; three, the end of Monday 23 November.
ANSWER_DUE = dt.datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
ANSWER_ESCALATION = dt.datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def setup_case(app: Any) -> str:
    reference = file_case(app, by="policia.rm")
    activate(app, reference, lead="SERNAMEG")
    consent(app, reference)
    return reference


def clocks(app: Any, reference: str, key: str | None = None) -> list[dict[str, Any]]:
    with unit_of_work(app) as ctx:
        query = select(CaseClock).where(CaseClock.case_id == case_id(app, reference))
        if key is not None:
            query = query.where(CaseClock.clock == key)
        return [{"id": c.id, "clock": c.clock, "subject": c.subject, "status": c.status, "started_at": c.started_at,
                 "due_at": c.due_at, "stop_reason": c.stop_reason, "stopped_at": c.stopped_at}
                for c in ctx.session.scalars(query.order_by(CaseClock.id))]


def referral_clocks(app: Any, reference: str) -> list[dict[str, Any]]:
    return [c for c in clocks(app, reference) if c["clock"] in REFERRAL_CLOCKS]


def of(app: Any, reference: str, clock: str, *, started: bool = False) -> list[tuple[str, str, int]]:
    """(user, kind, level) of the notifications of one clock of the case (without the «new» notice the
    referral's start sends, unless `started`)."""
    return sorted((who, kind, level) for who, key, kind, _, _, level in notified(app, reference)
                  if key == clock and (started or kind != "started"))


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=SANTIAGO).astimezone(UTC)


# -- respuesta_derivacion ----------------------------------------------------------------------------------

@both_backends
def test_a_referral_starts_its_own_answer_clock(app: Any) -> None:
    reference = setup_case(app)
    before = [c["clock"] for c in clocks(app, reference)]
    assert not set(before) & set(REFERRAL_CLOCKS)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    rows = referral_clocks(app, reference)
    assert [(r["clock"], r["subject"], r["status"]) for r in rows] == [("respuesta_derivacion", str(rid), RUNNING)]
    assert rows[0]["started_at"] == T0
    assert rows[0]["due_at"] == ANSWER_DUE  # two working days: by the end of Friday
    # the case's own clocks are untouched by the referral
    assert [c["clock"] for c in clocks(app, reference) if c["clock"] not in REFERRAL_CLOCKS] == before


@both_backends
def test_two_referrals_two_clocks_and_accepting_one_stops_only_its_own(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    libera = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    clock.advance(hours=1)
    minsal = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", service="salud_fisica")
    rows = {r["subject"]: r for r in referral_clocks(app, reference)}
    assert set(rows) == {str(libera), str(minsal)}
    assert all(r["clock"] == "respuesta_derivacion" and r["status"] == RUNNING for r in rows.values())
    assert rows[str(minsal)]["due_at"] == rows[str(libera)]["due_at"] == ANSWER_DUE
    assert rows[str(minsal)]["started_at"] - rows[str(libera)]["started_at"] == dt.timedelta(hours=1)
    clock.advance(hours=1)
    answer(app, reference, libera, "aceptar", "ong")
    rows = {r["subject"]: r for r in referral_clocks(app, reference)}
    assert (rows[str(libera)]["status"], rows[str(libera)]["stop_reason"]) == (STOPPED, "stop_event")
    assert rows[str(libera)]["stopped_at"] == T0 + dt.timedelta(hours=2)
    assert rows[str(minsal)]["status"] == RUNNING
    answer(app, reference, minsal, "rechazar", "salud.rm", reason="sin_cupo")
    rows = {r["subject"]: r for r in referral_clocks(app, reference)}
    assert rows[str(minsal)]["status"] == STOPPED
    assert len(rows) == 2  # accepted without a due date: no action clock


@both_backends
def test_an_unanswered_referral_reminds_its_receiver_then_escalates(app: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    tick(app, ANSWER_DUE - dt.timedelta(hours=4, seconds=1))
    assert of(app, reference, "respuesta_derivacion") == []
    tick(app, ANSWER_DUE - dt.timedelta(hours=4))
    assert of(app, reference, "respuesta_derivacion") == [("ong", "reminder", 0)]
    tick(app, ANSWER_DUE)
    assert of(app, reference, "respuesta_derivacion") == [("ong", "due", 0), ("ong", "reminder", 0)]
    tick(app, ANSWER_ESCALATION - dt.timedelta(seconds=1))
    assert len(of(app, reference, "respuesta_derivacion")) == 2
    tick(app, ANSWER_ESCALATION)
    assert of(app, reference, "respuesta_derivacion") == sorted(
        [("ong", "due", 0), ("ong", "reminder", 0)] + [(who, "escalation", 1) for who in FOCAL_POINT])
    assert state_of(app, rid) == "pendiente"


@both_backends
def test_the_receiving_node_is_told_at_once_that_a_referral_arrived(app: Any) -> None:
    """notify_on_start: the receiver does not wait for the first reminder (hours or days later)."""
    reference = setup_case(app)
    refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    emergency = setup_case(app)
    refer(app, emergency, "MINSAL-CL-RM", by="gestor.sernameg", kind="emergencia", service="salud_fisica")
    tick(app, T0)
    assert of(app, reference, "respuesta_derivacion", started=True) == [("ong", "started", 0)]
    # an emergency tells both ends at once
    assert of(app, emergency, "respuesta_emergencia", started=True) == [("gestor.sernameg", "started", 0),
                                                                       ("salud.rm", "started", 0)]


@both_backends
def test_on_catch_up_no_new_deadline_notice_is_sent_for_a_deadline_already_past(app: Any) -> None:
    """The beat was down from a referral's arrival until after its deadline: the «Nuevo plazo» notice
    would announce a deadline already gone, so only the overdue notice is sent, as advance reminders
    are skipped. A catch-up before the deadline still sends it, late."""
    late = setup_case(app)
    refer(app, late, "LIBERA", by="gestor.sernameg", service="salud_mental")
    tick(app, ANSWER_DUE)  # the first sweep since the referral arrived: its deadline has passed
    assert of(app, late, "respuesta_derivacion", started=True) == [("ong", "due", 0)]

    behind = setup_case(app)  # filed at ANSWER_DUE (the clock fixture moved with the tick)
    refer(app, behind, "LIBERA", by="gestor.sernameg", service="salud_mental")
    [row] = clocks(app, behind, "respuesta_derivacion")
    tick(app, row["due_at"] - dt.timedelta(hours=5))  # a day late, but the deadline is still ahead
    assert of(app, behind, "respuesta_derivacion", started=True) == [("ong", "started", 0)]


# -- respuesta_emergencia ------------------------------------------------------------------------------------

@both_backends
def test_an_emergency_referral_reminds_both_ends_and_escalates_to_the_focal_point(app: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", kind="emergencia", service="salud_fisica")
    rows = referral_clocks(app, reference)
    assert [(r["clock"], r["subject"]) for r in rows] == [("respuesta_emergencia", str(rid))]
    assert rows[0]["due_at"] == T0 + dt.timedelta(hours=4)
    tick(app, T0 + dt.timedelta(hours=2, minutes=59))
    assert of(app, reference, "respuesta_emergencia") == []
    tick(app, T0 + dt.timedelta(hours=3))
    assert of(app, reference, "respuesta_emergencia") == [("gestor.sernameg", "reminder", 0),
                                                          ("salud.rm", "reminder", 0)]
    tick(app, T0 + dt.timedelta(hours=4))
    assert of(app, reference, "respuesta_emergencia") == sorted([
        ("gestor.sernameg", "reminder", 0), ("salud.rm", "reminder", 0),
        ("gestor.sernameg", "due", 0), ("salud.rm", "due", 0)])
    tick(app, T0 + dt.timedelta(hours=5, minutes=59))
    assert not [n for n in of(app, reference, "respuesta_emergencia") if n[1] == "escalation"]
    tick(app, T0 + dt.timedelta(hours=6))
    escalations = [n for n in of(app, reference, "respuesta_emergencia") if n[1] == "escalation"]
    assert escalations == [(who, "escalation", 1) for who in FOCAL_POINT]
    # nobody else was told of this clock (not the detecting node, not national coordination)
    assert {n[0] for n in of(app, reference, "respuesta_emergencia")} == {"gestor.sernameg", "salud.rm",
                                                                          *FOCAL_POINT}


@both_backends
def test_a_run_after_the_deadline_sends_the_due_notice_not_the_moot_reminder(app: Any) -> None:
    reference = setup_case(app)
    refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", kind="emergencia", service="salud_fisica")
    tick(app, T0 + dt.timedelta(hours=4, minutes=1))
    assert of(app, reference, "respuesta_emergencia") == [("gestor.sernameg", "due", 0), ("salud.rm", "due", 0)]


@both_backends
def test_answering_an_emergency_referral_in_time_stops_its_clock(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", kind="emergencia", service="salud_fisica")
    clock.advance(hours=2)
    answer(app, reference, rid, "aceptar", "salud.rm")
    row = referral_clocks(app, reference)[0]
    assert (row["status"], row["stop_reason"]) == (STOPPED, "stop_event")
    tick(app, T0 + dt.timedelta(hours=7))
    assert of(app, reference, "respuesta_emergencia") == []


def test_an_emergency_before_activation_is_clocked_too(app: Any) -> None:
    reference = file_case(app, by="policia.rm")
    consent(app, reference)
    rid = refer(app, reference, "SERNAMEG", kind="emergencia", service="alojamiento")
    rows = referral_clocks(app, reference)
    assert [(r["clock"], r["subject"], r["due_at"]) for r in rows] == [
        ("respuesta_emergencia", str(rid), T0 + dt.timedelta(hours=4))]
    tick(app, T0 + dt.timedelta(hours=4))
    # emisor: the focal point that sent it; receptor: the shelter
    assert of(app, reference, "respuesta_emergencia") == sorted(
        [("gestor.sernameg", "due", 0)] + [(who, "due", 0) for who in FOCAL_POINT])


# -- accion_derivada ----------------------------------------------------------------------------------------

@both_backends
def test_an_accepted_referral_with_a_due_date_starts_the_action_clock_until_done(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    due_on = dt.date(2026, 12, 15)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental", due_on=due_on)
    assert [r["clock"] for r in referral_clocks(app, reference)] == ["respuesta_derivacion"]
    clock.advance(hours=3)
    answer(app, reference, rid, "aceptar", "ong")
    action = clocks(app, reference, "accion_derivada")
    assert len(action) == 1
    assert (action[0]["subject"], action[0]["status"]) == (str(rid), RUNNING)
    assert action[0]["started_at"] == T0 + dt.timedelta(hours=3)
    assert action[0]["due_at"] == end_of_day(due_on) == dt.datetime(2026, 12, 16, 3, 0, tzinfo=UTC)
    clock.advance(days=1)
    answer(app, reference, rid, "cumplir", "ong")
    action = clocks(app, reference, "accion_derivada")
    assert (action[0]["status"], action[0]["stop_reason"]) == (STOPPED, "stop_event")
    tick(app, dt.datetime(2026, 12, 17, tzinfo=UTC))
    assert of(app, reference, "accion_derivada") == []


@both_backends
def test_the_action_clock_reminds_the_receiver_and_escalates_to_the_sender_at_the_date(app: Any) -> None:
    reference = setup_case(app)
    due_on = dt.date(2026, 12, 15)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental", due_on=due_on)
    answer(app, reference, rid, "aceptar", "ong")
    tick(app, T0 + dt.timedelta(hours=2))
    assert of(app, reference, "accion_derivada") == []  # the escalation never comes before the date
    tick(app, dt.datetime(2026, 12, 8, 3, 0, tzinfo=UTC))  # five working days before the date's end
    assert of(app, reference, "accion_derivada") == [("ong", "reminder", 0)]
    tick(app, end_of_day(due_on))
    assert of(app, reference, "accion_derivada") == sorted(
        [("ong", "reminder", 0), ("ong", "due", 0), ("gestor.sernameg", "escalation", 1)])


def test_an_accepted_referral_without_a_due_date_has_no_action_clock(app: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    answer(app, reference, rid, "aceptar", "ong")
    assert clocks(app, reference, "accion_derivada") == []


@both_backends
def test_revoking_an_accepted_referral_stops_its_action_clock(app: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental", due_on=dt.date(2026, 12, 1))
    other = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", service="salud_fisica",
                  due_on=dt.date(2026, 12, 1))
    answer(app, reference, rid, "aceptar", "ong")
    answer(app, reference, other, "aceptar", "salud.rm")
    answer(app, reference, rid, "revocar", "gestor.sernameg", reason="ya_no_necesaria")
    rows = {r["subject"]: r for r in clocks(app, reference, "accion_derivada")}
    assert rows[str(rid)]["status"] == STOPPED
    assert rows[str(other)]["status"] == RUNNING


# -- the case closes ----------------------------------------------------------------------------------------

@both_backends
def test_closing_the_case_stops_every_referral_clock(app: Any, clock: Any) -> None:
    reference = setup_case(app)
    pending = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    emergency = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", kind="emergencia",
                      service="salud_fisica")
    action = refer(app, reference, "INCAMI", by="gestor.sernameg", service="alojamiento",
                   due_on=dt.date(2026, 12, 10))
    answer(app, reference, action, "aceptar", "ong.incami")
    running = referral_clocks(app, reference)
    assert {(r["clock"], r["subject"]) for r in running if r["status"] == RUNNING} == {
        ("respuesta_derivacion", str(pending)), ("respuesta_emergencia", str(emergency)),
        ("accion_derivada", str(action))}
    clock.advance(minutes=10)
    fire(app, "coordinador.rm", reference, "cerrar", {"motivo": "desiste", "fecha_cierre": dt.date(2026, 11, 18)})
    for row in referral_clocks(app, reference):
        assert row["status"] == STOPPED, row
    stopped_now = [r for r in referral_clocks(app, reference) if r["stopped_at"] == T0 + dt.timedelta(minutes=10)]
    assert {r["stop_reason"] for r in stopped_now} == {"case_closed"}
    assert len(stopped_now) == 3
    tick(app, T0 + dt.timedelta(days=30))
    assert [n for n in notified(app, reference) if n[1] in REFERRAL_CLOCKS] == []


# -- an ended referral's former receiver -------------------------------------------------------------------

@both_backends
def test_the_notice_of_an_ended_referral_does_not_go_to_the_former_receiver(app: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", kind="emergencia", service="salud_fisica")
    answer(app, reference, rid, "rechazar", "salud.rm", reason="sin_cupo")
    with unit_of_work(app) as ctx:
        parties = party_recipients(ctx, {str(rid)})
    assert (str(rid), "receptor") not in parties
    assert [u.email for u in parties[(str(rid), "emisor")]] == ["gestor.sernameg@demo.cl"]
    # a clock of that referral still due (say, its stop came in a race with the sweep): the sender only
    with unit_of_work(app) as ctx:
        ctx.session.execute(update(CaseClock).where(CaseClock.subject == str(rid)).values(
            status=RUNNING, stopped_at=None, stop_reason=None, next_at=T0 + dt.timedelta(hours=3), step=0))
        ctx.session.commit()
    tick(app, T0 + dt.timedelta(hours=4))
    told = of(app, reference, "respuesta_emergencia")
    assert told == [("gestor.sernameg", "due", 0)]


def test_the_parties_of_a_live_referral_are_its_two_nodes(app: Any) -> None:
    reference = setup_case(app)
    rid = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", service="salud_fisica")
    with unit_of_work(app) as ctx:
        parties = party_recipients(ctx, {str(rid), "not-a-uuid", str(uuid.uuid4())})
    assert {k: [u.email for u in v] for k, v in parties.items()} == {
        (str(rid), "receptor"): ["salud.rm@demo.cl"], (str(rid), "emisor"): ["gestor.sernameg@demo.cl"]}


@both_backends
def test_revoking_the_consent_stops_the_clocks_of_the_referrals_it_revokes(app: Any) -> None:
    from . import revoke

    reference = file_case(app, by="policia.rm")
    activate(app, reference, lead="SERNAMEG")
    red = consent(app, reference)
    covered = refer(app, reference, "LIBERA", by="gestor.sernameg", service="salud_mental")
    minsal_only = consent(app, reference, scope="nodo", node_id=node_id(app, "MINSAL-CL-RM"))
    kept = refer(app, reference, "MINSAL-CL-RM", by="gestor.sernameg", service="salud_fisica")
    assert revoke(app, reference, red) == [covered]
    rows = {r["subject"]: r for r in referral_clocks(app, reference)}
    assert (rows[str(covered)]["status"], rows[str(covered)]["stop_reason"]) == (STOPPED, "stop_event")
    assert rows[str(kept)]["status"] == RUNNING
    assert minsal_only is not None
