"""E-mail for clock notifications (referral/clocks/mail.py) through a real SMTP server on 127.0.0.1
(aiosmtpd), and the words they carry (referral/clocks/wording.py).

What is checked: one e-mail per notification however often delivery runs; the message names the
case reference and links to the case page, and holds nothing of the person (searched in the raw
bytes as sent and in every decoded header and body); a refused connection leaves the e-mail owed and
its claim lapses after the lease; the Message-ID is the notification's own.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, select

from referral.cases.erasure import erase_case
from referral.clocks.mail import MailSettings, compose, deliver
from referral.clocks.models import Notification
from referral.clocks.service import emails_handed_out, sweep_emails
from referral.clocks.wording import OVERDUE, ON_TIME, SOON, message, span, time_left, urgency
from referral.workflow.clocks import DUE, ESCALATION, PERIODIC, REMINDER
from referral.workflow.text import Text

from ..backends import both_backends
from ..factories import VICTIM_DOCUMENT, VICTIM_GIVEN, VICTIM_PHONE, VICTIM_SURNAMES
from ..units import unit_of_work
from . import LEASE, file_case, tick, user

UTC = dt.UTC
SENDER = "protocolo-trata@demo.cl"
BASE_URL = "https://trata.example.cl"
REMINDED_AT = dt.datetime(2026, 11, 19, 9, 0, tzinfo=UTC)  # triage's reminder, for a case filed at the fixture's start
# Everything of the person the Ficha holds that a careless message could quote, whole and in parts.
PERSONAL = (VICTIM_GIVEN, VICTIM_SURNAMES, VICTIM_DOCUMENT, VICTIM_PHONE, *VICTIM_GIVEN.split(),
            *VICTIM_SURNAMES.split(), "4417829", "8123 4477", "1996", "Estación Central", "pasaporte")


class Inbox:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, port: int) -> None:
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)
        self.port = port

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[Server]:
    with Server(free_port()) as server:
        yield server


def settings(port: int) -> MailSettings:
    return MailSettings(host="127.0.0.1", port=port, security="none", username=None, password=None, sender=SENDER,
                        base_url=BASE_URL, timeout=5.0)


def owed(app: Any, reference: str | None = None) -> list[tuple[uuid.UUID, str, str, int]]:
    """(id, recipient, kind, level) of the notifications, by recipient then kind."""
    with unit_of_work(app) as ctx:
        rows = ctx.session.scalars(select(Notification))
        found = [(n.id, n.user.email, n.kind, n.level) for n in rows
                 if reference is None or n.case.reference == reference]
    return sorted(found, key=lambda row: (row[1], row[2]))


def state(app: Any, note_id: uuid.UUID) -> tuple[bool, dt.datetime | None, dt.datetime | None]:
    with unit_of_work(app) as ctx:
        note = ctx.session.get(Notification, note_id)
        assert note is not None
        return note.email_pending, note.email_claimed_at, note.emailed_at


def send(app: Any, note_id: uuid.UUID, port: int, now: dt.datetime) -> bool:
    with unit_of_work(app) as ctx:
        return deliver(ctx.session, note_id, ctx.definition, settings(port), ctx.timezone, now, LEASE)


def searchable(envelope: Any) -> str:
    """The message as sent (raw bytes) and as read (every header and body part, decoded)."""
    raw = envelope.content.decode("utf-8", errors="replace")
    parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
    headers = "\n".join(f"{name}: {value}" for name, value in parsed.items())
    bodies = "\n".join(part.get_content() for part in parsed.walk() if part.get_content_maintype() == "text")
    return "\n".join((raw, headers, bodies))


def body_of(mail: email.message.EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# -- delivery ---------------------------------------------------------------------------------------------

@both_backends
def test_each_notification_is_emailed_once_however_often_delivery_runs(app: Any, smtp: Server) -> None:
    file_case(app)
    created = tick(app, REMINDED_AT, email=True)
    assert len(created) == 2
    later = REMINDED_AT + dt.timedelta(minutes=1)
    assert [send(app, note_id, smtp.port, later) for note_id in created] == [True, True]
    assert [send(app, note_id, smtp.port, later) for note_id in created] == [False, False]
    # Even once the lease has long passed, a sent e-mail is not owed any more.
    assert [send(app, note_id, smtp.port, later + dt.timedelta(days=1)) for note_id in created] == [False, False]
    assert len(smtp.inbox.envelopes) == 2
    assert sorted(rcpt for e in smtp.inbox.envelopes for rcpt in e.rcpt_tos) == [
        "coordinador.rm@demo.cl", "gestor.rm@demo.cl"]
    assert {e.mail_from for e in smtp.inbox.envelopes} == {SENDER}
    for note_id in created:
        assert state(app, note_id) == (False, later, later)
    with unit_of_work(app) as ctx:
        assert sweep_emails(ctx, later + dt.timedelta(days=1), LEASE) == []


@both_backends
def test_the_email_names_the_case_and_links_to_it_and_holds_nothing_of_the_person(app: Any, smtp: Server) -> None:
    reference = file_case(app)
    assert owed(app) == []  # nothing before the reminder's moment
    tick(app, REMINDED_AT, email=True)
    notes = owed(app, reference)
    for note_id, *_ in notes:
        assert send(app, note_id, smtp.port, REMINDED_AT)
    mails = {str(m["To"]): (m, e) for m, e in zip(smtp.inbox.messages(), smtp.inbox.envelopes, strict=True)}
    assert set(mails) == {"coordinador.rm@demo.cl", "gestor.rm@demo.cl"}
    for note_id, address, kind, _level in notes:
        mail, envelope = mails[address]
        assert kind == "reminder"
        assert str(mail["From"]) == SENDER
        assert str(mail["Subject"]) == f"[Protocolo de Trata] Recordatorio de plazo · {reference}"
        assert str(mail["Message-ID"]) == f"<{note_id}@demo.cl>"
        body = body_of(mail)
        assert f"Caso {reference}: «Triaje de la Ficha» vence el 19-11-2026 12:00." in body
        assert f"Case {reference}: “Triage of the form” is due on 19-11-2026 12:00." in body
        assert f"Abrir el caso (requiere iniciar sesión): {BASE_URL}/casos/{reference}" in body
        assert f"Open the case (sign-in required): {BASE_URL}/casos/{reference}" in body
        text = searchable(envelope)
        assert reference in text and f"{BASE_URL}/casos/{reference}" in text  # the search sees the content
        leaked = [secret for secret in PERSONAL if secret.lower() in text.lower()]
        assert leaked == [], f"the e-mail to {address} quotes {leaked}"


@both_backends
def test_a_refused_connection_leaves_the_email_owed_and_its_claim_lapses_after_the_lease(
        app: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    file_case(app)
    [first, second] = tick(app, REMINDED_AT, email=True)
    port = free_port()  # nothing listens here yet
    assert send(app, first, port, REMINDED_AT) is False
    assert state(app, first) == (True, REMINDED_AT, None)
    assert f"e-mail for notification {first} not sent (ConnectionRefusedError); will retry" in caplog.text
    assert "@demo.cl" not in caplog.text  # no address in the log

    with Server(port) as server:
        # Within the lease the claim holds: neither the sweep nor a second task sends it.
        within = REMINDED_AT + LEASE
        with unit_of_work(app) as ctx:
            assert sweep_emails(ctx, within, LEASE) == [second]
        assert send(app, first, port, within) is False
        assert server.inbox.envelopes == []
        assert state(app, first) == (True, REMINDED_AT, None)
        # After it, the sweep hands it out again and it is sent, with the same Message-ID as ever.
        after = REMINDED_AT + LEASE + dt.timedelta(seconds=1)
        with unit_of_work(app) as ctx:
            assert sorted(sweep_emails(ctx, after, LEASE)) == sorted([first, second])
        assert send(app, first, port, after) is True
        assert state(app, first) == (False, after, after)
        [mail] = server.inbox.messages()
        assert str(mail["Message-ID"]) == f"<{first}@demo.cl>"


def hand_out(app: Any, now: dt.datetime) -> list[uuid.UUID]:
    """One sweep of the owed e-mails, committed, as the sweep task does."""
    with unit_of_work(app) as ctx:
        found = sweep_emails(ctx, now, LEASE)
        ctx.session.commit()
    return found


@both_backends
def test_a_sweep_hands_out_each_owed_email_once_until_its_lease_lapses(app: Any, smtp: Server) -> None:
    """A mail queue behind a slow server is not filled again every minute: a sweep claims what it hands
    out; what a dead task held comes back after the lease; what was sent never does."""
    file_case(app)
    file_case(app)
    created = tick(app, REMINDED_AT, email=True)
    assert len(created) == 4
    first = REMINDED_AT + dt.timedelta(minutes=1)
    assert sorted(hand_out(app, first)) == sorted(created)
    with unit_of_work(app) as ctx:
        assert {n.email_enqueued_at for n in ctx.session.scalars(select(Notification))} == {first}
    # every minute of the lease, the sweep finds nothing more to hand out
    for minute in range(1, 5):
        assert hand_out(app, first + dt.timedelta(minutes=minute)) == []
    # the task that took them died without sending: after the lease they are handed out again, once
    lapsed = first + LEASE + dt.timedelta(seconds=1)
    assert sorted(hand_out(app, lapsed)) == sorted(created)
    assert hand_out(app, lapsed + dt.timedelta(seconds=1)) == []
    # one is sent; after the next lease only the three still owed come back
    assert send(app, created[0], smtp.port, lapsed)
    again = lapsed + LEASE + dt.timedelta(seconds=1)
    assert sorted(hand_out(app, again)) == sorted(created[1:])
    assert len(smtp.inbox.envelopes) == 1


@both_backends
def test_the_run_that_writes_a_notification_hands_its_email_out_itself(app: Any) -> None:
    """The run task queues the e-mails it wrote and marks them handed out in the same commit: the next
    sweep does not queue them a second time."""
    file_case(app)
    app.config["CLOCK"].now = REMINDED_AT
    created = tick(app, REMINDED_AT, email=True)
    with unit_of_work(app) as ctx:
        emails_handed_out(ctx, created, REMINDED_AT)
        ctx.session.commit()
    assert hand_out(app, REMINDED_AT + dt.timedelta(minutes=1)) == []
    assert sorted(hand_out(app, REMINDED_AT + LEASE + dt.timedelta(seconds=1))) == sorted(created)


@both_backends
def test_two_sweeps_at_once_hand_out_each_owed_email_once(app: Any) -> None:
    """Two sweeps (two beats by mistake, a sweep task delivered twice) both read the owed e-mails before
    either claims them: the claim re-checks the lease, so each e-mail goes to exactly one of them."""
    for _ in range(3):
        file_case(app)
    created = tick(app, REMINDED_AT, email=True)
    assert len(created) == 6
    now = REMINDED_AT + dt.timedelta(minutes=1)
    both_read = threading.Barrier(2, timeout=30)
    handed: dict[str, list[uuid.UUID]] = {}
    failures: list[BaseException] = []

    def sweeper(name: str) -> None:
        try:
            with unit_of_work(app) as ctx:
                waited = False

                @event.listens_for(ctx.session, "do_orm_execute")
                def hold_the_claim(state: Any) -> None:
                    nonlocal waited
                    if state.is_update and not waited:  # both have read the owed e-mails: now both claim
                        waited = True
                        both_read.wait()

                handed[name] = sweep_emails(ctx, now, LEASE)
                ctx.session.commit()
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)
            both_read.abort()

    threads = [threading.Thread(target=sweeper, args=(name,), name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a sweep hung"
    assert failures == []
    assert not set(handed["first"]) & set(handed["second"])
    assert sorted(handed["first"] + handed["second"]) == sorted(created)


@both_backends
def test_the_message_id_is_the_notifications_own_and_the_same_at_every_attempt(app: Any) -> None:
    file_case(app)
    [first, second] = tick(app, REMINDED_AT, email=True)
    with unit_of_work(app) as ctx:
        note = ctx.session.get(Notification, first)
        mails = [compose(note, ctx.definition, settings(25), ctx.timezone) for _ in range(2)]
        other = compose(ctx.session.get(Notification, second), ctx.definition, settings(25), ctx.timezone)
    assert [str(m["Message-ID"]) for m in mails] == [f"<{first}@demo.cl>"] * 2
    assert str(other["Message-ID"]) == f"<{second}@demo.cl>"


@both_backends
def test_an_escalation_email_says_as_whom_the_person_is_told(app: Any, smtp: Server) -> None:
    reference = file_case(app)
    tick(app, dt.datetime(2026, 11, 20, 15, 0, tzinfo=UTC), email=True)
    notes = owed(app, reference)
    assert [(address, kind, level) for _, address, kind, level in notes] == [
        ("coordinacion.nacional@demo.cl", "escalation", 1), ("coordinador.rm@demo.cl", "due", 0),
        ("gestor.rm@demo.cl", "due", 0)]
    now = dt.datetime(2026, 11, 20, 15, 1, tzinfo=UTC)
    assert [send(app, note_id, smtp.port, now) for note_id, *_ in notes] == [True, True, True]
    mails = {str(m["To"]): m for m in smtp.inbox.messages()}
    escalation = mails["coordinacion.nacional@demo.cl"]
    assert str(escalation["Subject"]) == f"[Protocolo de Trata] Escalamiento (nivel 1) · {reference}"
    body = body_of(escalation)
    assert (f"Caso {reference}: «Triaje de la Ficha» está vencido desde el 19-11-2026 12:00. "
            "Se le informa como Coordinación nacional.") in body
    assert "You are told as National coordination." in body
    assert str(mails["gestor.rm@demo.cl"]["Subject"]) == f"[Protocolo de Trata] Plazo vencido · {reference}"


@both_backends
def test_nothing_is_sent_for_a_notification_that_owes_no_email_or_whose_case_was_erased(
        app: Any, smtp: Server) -> None:
    quiet = file_case(app)
    tick(app, REMINDED_AT, email=False)
    [(note_id, *_), _] = owed(app, quiet)
    assert send(app, note_id, smtp.port, REMINDED_AT) is False

    erased = file_case(app)  # at 09:00 on the 19th: reminded at 03:00 on the 20th
    tick(app, dt.datetime(2026, 11, 20, 3, 0, tzinfo=UTC), email=True)
    pending = [note_id for note_id, *_ in owed(app, erased)]
    assert len(pending) == 2
    with unit_of_work(app) as ctx:
        erase_case(ctx, user(ctx, "administrador"), erased, "ingreso_erroneo", erased)
        ctx.session.commit()
    assert [send(app, note_id, smtp.port, REMINDED_AT) for note_id in pending] == [False, False]
    assert smtp.inbox.envelopes == []


def test_mail_settings_come_from_the_configuration_only_when_an_smtp_host_is_set() -> None:
    config = {"SMTP_HOST": None, "SMTP_PORT": 587, "SMTP_SECURITY": "starttls", "SMTP_USERNAME": None,
              "SMTP_PASSWORD": None, "MAIL_FROM": SENDER, "BASE_URL": BASE_URL, "SMTP_TIMEOUT_SECONDS": 30.0}
    assert MailSettings.from_config(config) is None
    assert MailSettings.from_config({**config, "SMTP_HOST": ""}) is None
    assert MailSettings.from_config({**config, "SMTP_HOST": "smtp.example.cl", "SMTP_PORT": "2525"}) == MailSettings(
        "smtp.example.cl", 2525, "starttls", None, None, SENDER, BASE_URL, 30.0)


# -- the words ----------------------------------------------------------------------------------------------

TRIAGE = Text("Triaje de la Ficha", "Triage of the form")
SANTIAGO = ZoneInfo("America/Santiago")
DUE_AT = dt.datetime(2026, 11, 19, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "title", "es", "en"), [
    (REMINDER, Text("Recordatorio de plazo", "Deadline reminder"),
     "Caso TP-AAAA-BBBB: «Triaje de la Ficha» vence el 19-11-2026 12:00.",
     "Case TP-AAAA-BBBB: “Triage of the form” is due on 19-11-2026 12:00."),
    (DUE, Text("Plazo vencido", "Deadline missed"),
     "Caso TP-AAAA-BBBB: «Triaje de la Ficha» venció el 19-11-2026 12:00 y sigue pendiente.",
     "Case TP-AAAA-BBBB: “Triage of the form” was due on 19-11-2026 12:00 and is still pending."),
    (PERIODIC, Text("Acción periódica", "Periodic action"),
     "Caso TP-AAAA-BBBB: corresponde «Triaje de la Ficha» (plazo del 19-11-2026 12:00).",
     "Case TP-AAAA-BBBB: “Triage of the form” is due now (period ending 19-11-2026 12:00)."),
])
def test_each_kind_of_step_has_its_words(kind: str, title: Text, es: str, en: str) -> None:
    words = message(kind, TRIAGE, DUE_AT, SANTIAGO, "TP-AAAA-BBBB")
    assert (words.title, words.body) == (title, Text(es, en))


def test_an_escalation_names_its_level_and_the_relation() -> None:
    words = message(ESCALATION, TRIAGE, DUE_AT, SANTIAGO, "TP-AAAA-BBBB", 2,
                    Text("Coordinación nacional", "National coordination"))
    assert words.title == Text("Escalamiento (nivel 2)", "Escalation (level 2)")
    assert words.body.es.endswith("Se le informa como Coordinación nacional.")
    assert words.body.en.endswith("You are told as National coordination.")
    with pytest.raises(ValueError, match="unknown step kind 'otro'"):
        message("otro", TRIAGE, DUE_AT, SANTIAGO, "TP-AAAA-BBBB")


@pytest.mark.parametrize(("delta", "es", "en"), [
    (dt.timedelta(minutes=59, seconds=59), "59 min", "59 min"),
    (dt.timedelta(hours=1), "1 h", "1 h"),
    (dt.timedelta(hours=47, minutes=59), "47 h", "47 h"),
    (dt.timedelta(hours=48), "2 días", "2 days"),
    (dt.timedelta(days=-3), "3 días", "3 days"),
])
def test_a_span_is_rounded_the_way_people_say_it(delta: dt.timedelta, es: str, en: str) -> None:
    assert span(delta) == Text(es, en)


def test_time_left_and_urgency() -> None:
    start = dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    due = start + dt.timedelta(days=10)
    assert time_left(due, due - dt.timedelta(hours=5)) == Text("Vence en 5 h", "Due in 5 h")
    assert time_left(due, due) == Text("Vencido hace 0 min", "Overdue by 0 min")
    assert time_left(due, due + dt.timedelta(days=3)) == Text("Vencido hace 3 días", "Overdue by 3 days")
    assert urgency(start, due, start + dt.timedelta(days=1)) == ON_TIME
    assert urgency(start, due, start + dt.timedelta(days=7, hours=12)) == SOON  # the last quarter
    assert urgency(start, due, start + dt.timedelta(days=7, hours=11)) == ON_TIME
    assert urgency(start, due, due) == OVERDUE
    short = start + dt.timedelta(hours=24)  # a 24-hour clock is "soon" from the start: under a day left
    assert urgency(start, short, start) == SOON


# -- a node without staff accounts -------------------------------------------------------------------------

def test_a_node_without_staff_is_told_at_its_institutional_address(app: Any, smtp: Server) -> None:
    """A referral to an office that has no accounts in the system (most of the directory) still reaches
    it: the e-mail goes to the node's contact address and says to call the focal point. Nothing of the
    person, and nothing for a node that has staff (they get their own)."""
    from ..referrals import consent, refer
    from ..steps import activate

    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    refer(app, reference, "MINSAL-CL-AN", service="salud_mental")  # Antofagasta's health service: no accounts
    tick(app, dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC), email=True)  # the referral's «new» notice
    with unit_of_work(app) as ctx:
        office = [n for n in ctx.session.scalars(select(Notification)) if n.user_id is None]
        assert [(n.node.code, n.clock, n.kind) for n in office] == [("MINSAL-CL-AN", "respuesta_derivacion",
                                                                    "started")]
        assert office[0].email_pending
        note_id = office[0].id
    assert send(app, note_id, smtp.port, dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    [mail] = smtp.inbox.messages()
    assert str(mail["To"]) == "contacto.minsal-cl-an@demo.cl"
    body = body_of(mail)
    assert f"Caso {reference}" in body and "comuníquese con el punto focal regional" in body
    assert "contact the regional focal point" in body
    assert not [s for s in PERSONAL if s.lower() in searchable(smtp.inbox.envelopes[0]).lower()]
    # run again: once per step and office, however often it runs
    tick(app, dt.datetime(2026, 11, 18, 15, 1, tzinfo=UTC), email=True)
    with unit_of_work(app) as ctx:
        assert len([n for n in ctx.session.scalars(select(Notification)) if n.user_id is None]) == 1


def test_without_smtp_no_office_notice_is_written(app: Any) -> None:
    from ..referrals import consent, refer
    from ..steps import activate

    reference = file_case(app)
    activate(app, reference)
    consent(app, reference)
    refer(app, reference, "MINSAL-CL-AN", service="salud_mental")
    tick(app, dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC), email=False)
    with unit_of_work(app) as ctx:
        assert [n for n in ctx.session.scalars(select(Notification)) if n.user_id is None] == []
