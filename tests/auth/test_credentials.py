"""One's own password: enrolment and reset links, the change page, the policy, and the reset e-mail,
tried as an attacker would (replayed and swapped links, unknown e-mails, weak passwords)."""

from __future__ import annotations

import email.policy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from referral import create_app
from referral.audit.models import AuditEvent
from referral.auth import policy, throttling, tokens
from referral.auth.models import User
from referral.auth.passwords import verify_password
from referral.auth.tasks import TASK, reset_link
from referral.demo.network import DEMO_PASSWORD
from referral.queue import MAIL_QUEUE, broker_settings

from ..backends import both_backends
from ..browser import Browser, hidden_inputs
from ..clocks.test_mail import Server, free_port
from ..test_fuzz_input import FUZZ, answered, no_leaks, post, values  # noqa: F401 - no_leaks: a fixture
from ..units import unit_of_work

NEW = "una frase nueva que nadie adivina"


@pytest.fixture(autouse=True)
def passwords_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """PostgreSQL keeps the demo accounts between tests (only case tables are emptied): put back every
    password these tests change."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with unit_of_work(app) as ctx:
        kept = {row.id: row.password_hash for row in ctx.session.execute(select(User.id, User.password_hash))}
    yield
    with unit_of_work(app) as ctx:
        for user in ctx.session.scalars(select(User)):
            user.password_hash = kept[user.id]
        ctx.session.commit()


def account(app: Any, name: str) -> User:
    with unit_of_work(app) as ctx:
        user = ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))
        ctx.session.expunge(user)
        return user


def issue(app: Any, name: str, purpose: str, *, pending: bool = False, active: bool | None = None) -> str:
    """A link token for a demo account; `pending`: the account has no password yet, as a new one."""
    with unit_of_work(app) as ctx:
        user = ctx.session.scalar(select(User).where(User.email == f"{name}@demo.cl"))
        if pending:
            user.password_hash = "!"
        if active is not None:
            user.active = active
        token = tokens.issue(ctx.session, user, purpose, ctx.now())
        ctx.session.commit()
        return token


def choose(browser: Browser, link: str, password: str = NEW, confirmation: str | None = None) -> Any:
    """Open the link, then post the new password twice on the page it leads to."""
    opened = browser.get(link)
    assert opened.status_code == 302
    form = opened.headers["Location"]
    page = browser.get(form)
    if page.status_code != 200:
        return page
    return browser.client.post(form, data={**hidden_inputs(page.text), "password": password,
                                           "confirmation": password if confirmation is None else confirmation})


def actions(app: Any) -> list[tuple[str, str | None]]:
    with unit_of_work(app) as ctx:
        return [(e.action, e.subject) for e in ctx.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


# -- the policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "problem"), [
    ("corta", policy.Problem.TOO_SHORT), ("x" * 201, policy.Problem.TOO_LONG),
    ("password1234", policy.Problem.COMMON), ("qwertyuiop123", policy.Problem.COMMON),
    ("contraseña123", policy.Problem.COMMON), ("aaaaaaaaaaaaaaaa", policy.Problem.COMMON),
    ("Coordinador.RM-2026!", policy.Problem.PERSONAL), ("coordinador.rm@demo.cl", policy.Problem.PERSONAL),
    ("Ana María Pérez", policy.Problem.PERSONAL),
])
def test_the_policy_refuses_short_long_common_and_personal_passwords(password: str, problem: Any) -> None:
    assert policy.problems(password, email="coordinador.rm@demo.cl", name="Ana María Pérez") == [problem]


def test_the_policy_takes_a_long_uncommon_phrase_and_checks_the_second_typing() -> None:
    assert policy.problems(NEW, email="coordinador.rm@demo.cl", name="Ana María Pérez") == []
    assert policy.problems(NEW, confirmation=NEW + " ") == [policy.Problem.MISMATCH]


# -- enrolment ------------------------------------------------------------------------------------


def test_the_link_sends_to_a_page_without_the_token_and_the_person_sets_her_password(app: Any) -> None:
    token = issue(app, "gestor.ta", tokens.ENROL, pending=True)
    browser = Browser(app, DEMO_PASSWORD)
    with app.test_request_context():
        from flask import url_for

        link = url_for("auth.enrol", token=token, _external=True)
    assert token in link
    opened = browser.get(link)
    assert opened.status_code == 302 and token not in opened.headers["Location"]
    page = browser.get(opened.headers["Location"])
    assert page.status_code == 200 and token not in page.text
    assert browser.login("gestor.ta").status_code == 401  # "!" is no password
    done = choose(browser, f"/cuenta/activar/{token}")
    assert done.status_code == 302 and done.headers["Location"] == "/ingresar"
    assert browser.login("gestor.ta", password=NEW).status_code == 302
    user = account(app, "gestor.ta")
    assert ("account.enrolled", str(user.id)) in actions(app)


def test_a_weak_or_mismatched_password_is_refused_and_the_link_still_works(app: Any) -> None:
    token = issue(app, "gestor.ta", tokens.ENROL, pending=True)
    browser = Browser(app, DEMO_PASSWORD)
    weak = choose(browser, f"/cuenta/activar/{token}", "password1234")
    assert weak.status_code == 400 and "demasiado común" in weak.text and "password1234" not in weak.text
    mine = choose(browser, f"/cuenta/activar/{token}", "gestor.ta.2026!")
    assert mine.status_code == 400 and "No use su correo ni su nombre" in mine.text
    differ = choose(browser, f"/cuenta/activar/{token}", NEW, NEW + "x")
    assert differ.status_code == 400 and "no coinciden" in differ.text and NEW not in differ.text
    assert choose(browser, f"/cuenta/activar/{token}").status_code == 302


def test_enrolment_leaves_an_account_awaiting_approval_inactive(app: Any) -> None:
    token = issue(app, "gestor.ta", tokens.ENROL, pending=True, active=False)
    browser = Browser(app, DEMO_PASSWORD)
    assert choose(browser, f"/cuenta/activar/{token}").status_code == 302
    user = account(app, "gestor.ta")
    assert not user.active and user.password_hash.startswith("$argon2")
    assert browser.login("gestor.ta", password=NEW).status_code == 401


@both_backends
def test_a_replayed_expired_forged_or_wrong_purpose_link_opens_nothing(app: Any, clock: Any) -> None:
    token = issue(app, "gestor.ta", tokens.ENROL, pending=True)
    browser = Browser(app, DEMO_PASSWORD)
    assert choose(browser, f"/cuenta/activar/{token}").status_code == 302
    replay = choose(Browser(app, DEMO_PASSWORD), f"/cuenta/activar/{token}", "otra frase distinta larga")
    assert replay.status_code == 404 and "Pida a la administración" in replay.text
    assert choose(Browser(app, DEMO_PASSWORD), "/cuenta/activar/forjado" + "x" * 40).status_code == 404
    reset = issue(app, "gestor.rm", tokens.RESET)
    assert choose(Browser(app, DEMO_PASSWORD), f"/cuenta/activar/{reset}").status_code == 404
    late = issue(app, "ong", tokens.ENROL)
    clock.advance(hours=72)
    assert choose(Browser(app, DEMO_PASSWORD), f"/cuenta/activar/{late}").status_code == 404
    assert Browser(app, DEMO_PASSWORD).get("/cuenta/activar").status_code == 404  # no link at all
    assert verify_password(account(app, "gestor.ta").password_hash, NEW, "test")


# -- reset ----------------------------------------------------------------------------------------


def test_a_reset_link_resets_only_its_own_account(app: Any) -> None:
    victim_token = issue(app, "gestor.rm", tokens.RESET)
    attacker = Browser(app, DEMO_PASSWORD)
    attacker.login("coordinador.ta")
    own_token = issue(app, "coordinador.ta", tokens.RESET)
    attacker.get(f"/cuenta/recuperar/{own_token}")
    # The form names no account: whatever the browser holds, a token resets the account it was issued for.
    assert choose(attacker, f"/cuenta/recuperar/{own_token}").status_code == 302
    assert verify_password(account(app, "gestor.rm").password_hash, DEMO_PASSWORD, "test")
    assert verify_password(account(app, "coordinador.ta").password_hash, NEW, "test")
    assert choose(Browser(app, DEMO_PASSWORD), f"/cuenta/recuperar/{victim_token}", "la otra frase bien larga").status_code == 302
    assert verify_password(account(app, "gestor.rm").password_hash, "la otra frase bien larga", "test")


@both_backends
def test_a_reset_ends_every_session_every_other_link_and_the_backoff(app: Any, clock: Any) -> None:
    signed = Browser(app, DEMO_PASSWORD)
    assert signed.login("gestor.rm").status_code == 302
    attacker = Browser(app, DEMO_PASSWORD)
    attacker.client.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    for n in range(5):  # from five addresses: the account itself now waits
        attacker.client.environ_base["REMOTE_ADDR"] = f"203.0.113.{n}"
        for _ in range(throttling.SHARE):
            clock.advance(minutes=16)
            attacker.login("gestor.rm", password="mala")
    first, second = issue(app, "gestor.rm", tokens.RESET), None
    with unit_of_work(app) as ctx:  # an older link of another purpose, still live
        second = tokens.issue(ctx.session, ctx.session.scalar(select(User).where(User.email == "gestor.rm@demo.cl")),
                              tokens.ENROL, ctx.now())
        ctx.session.commit()
    worker = Browser(app, DEMO_PASSWORD)
    assert worker.login("gestor.rm").status_code == 401  # held back by the botnet
    assert choose(worker, f"/cuenta/recuperar/{first}").status_code == 302
    assert signed.get("/casos").status_code == 302  # signed out
    assert choose(Browser(app, DEMO_PASSWORD), f"/cuenta/activar/{second}").status_code == 404
    assert choose(Browser(app, DEMO_PASSWORD), f"/cuenta/recuperar/{first}").status_code == 404  # replayed
    assert worker.login("gestor.rm", password=NEW).status_code == 302  # the backoff is gone
    user = account(app, "gestor.rm")
    assert ("password.reset", str(user.id)) in actions(app)


def _queued(app: Any) -> list[Any]:
    """The reset tasks waiting in the application's broker (drained): their argument."""
    found = []
    with app.extensions["celery"].connection_for_read() as connection:
        queue = connection.SimpleQueue(MAIL_QUEUE)  # an e-mail task: the mail queue (referral/queue.py)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            assert message.headers["task"] == TASK
            found.append(message.payload[0][0])
            message.ack()
        queue.close()
    return found


def _ask(browser: Browser, email: str) -> Any:
    return browser.submit("/cuenta/recuperar", {"email": email})


def test_asking_for_an_unknown_or_a_real_email_answers_the_same_and_queues_no_address(app: Any) -> None:
    browser = Browser(app, DEMO_PASSWORD)
    deactivate = issue(app, "ong", tokens.ENROL, active=False)  # an inactive account gets no link either
    assert deactivate
    answers = [_ask(browser, email) for email in ("gestor.rm@demo.cl", "nadie@demo.cl", "ong@demo.cl")]
    assert len({(a.status_code, re.sub(r'value="[^"]*"', "", a.text)) for a in answers}) == 1
    assert answers[0].status_code == 200 and "Si el correo corresponde" in answers[0].text
    gestor = account(app, "gestor.rm")
    assert _queued(app) == [gestor.id, None, None]  # ids only: no e-mail in the broker
    assert [a for a in actions(app) if a[0].startswith("password")] == []  # the worker records the request


def test_the_worker_mails_a_link_with_nothing_personal_and_records_the_request(app: Any, tmp_path: Any) -> None:
    port = free_port()
    with Server(port) as server:
        app.config.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_SECURITY": "none",
                           "MAIL_FROM": "protocolo-trata@demo.cl", "BASE_URL": "https://trata.example.cl"})
        gestor = account(app, "gestor.rm")
        assert reset_link(app, gestor.id) is True
        assert reset_link(app, None) is False
        messages = server.inbox.messages()
    assert len(messages) == 1 and messages[0]["To"] == "gestor.rm@demo.cl"
    body = messages[0].get_body().get_content()
    link = re.search(r"https://trata\.example\.cl/cuenta/recuperar/\S+", body).group(0)
    raw = server.inbox.envelopes[0].content.decode()
    for personal in (gestor.display_name, "CAVD", "Metropolitana", "gestor"):
        assert personal.lower() not in (messages[0]["Subject"] + body).lower()
    assert "recuperar" in raw
    assert ("password.reset_requested", str(gestor.id)) in actions(app)
    browser = Browser(app, DEMO_PASSWORD)
    assert choose(browser, link.removeprefix("https://trata.example.cl")).status_code == 302


def test_without_smtp_a_developer_sees_the_link_on_the_console_and_production_logs_nothing(
        app: Any, capsys: Any, caplog: Any) -> None:
    gestor = account(app, "gestor.rm")
    assert reset_link(app, gestor.id) is False
    printed = capsys.readouterr().out
    assert "DEVELOPMENT ONLY" in printed and "/cuenta/recuperar/" in printed and "gestor" not in printed
    app.config["REFERRAL_ENV"] = "production"
    reset_link(app, gestor.id)
    assert capsys.readouterr().out == ""
    assert all("gestor" not in record.getMessage() and "recuperar/" not in record.getMessage()
               for record in caplog.records)


def test_reset_requests_are_limited_per_email_silently_and_per_address(database_url: str, tmp_path: Any,
                                                                        clock: Any) -> None:
    from ..conftest import _settings

    settings = _settings(tmp_path / "limited", database_url, clock)
    settings.update({"RATELIMIT_ENABLED": True, "RESET_EMAIL_LIMIT": "2 per hour", "RESET_ADDRESS_LIMIT": "4 per hour"})
    app = create_app(settings)
    browser = Browser(app, DEMO_PASSWORD)
    statuses = [_ask(browser, "GESTOR.rm@demo.cl ").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # the same answer, but the third sends nothing
    gestor = account(app, "gestor.rm")
    assert _queued(app) == [gestor.id, gestor.id, None]
    assert _ask(browser, "nadie@demo.cl").status_code == 200
    assert _ask(browser, "otra@demo.cl").status_code == 429  # the fifth from this address


# -- change ---------------------------------------------------------------------------------------


@both_backends
def test_changing_ones_password_keeps_this_session_and_ends_the_others(app: Any) -> None:
    here, elsewhere = Browser(app, DEMO_PASSWORD), Browser(app, DEMO_PASSWORD)
    assert here.login("gestor.rm").status_code == 302 and elsewhere.login("gestor.rm").status_code == 302
    reset = issue(app, "gestor.rm", tokens.RESET)
    wrong = here.submit("/cuenta/contrasena", {"current": "no-es-esta", "password": NEW, "confirmation": NEW})
    assert wrong.status_code == 400 and "actual no es correcta" in wrong.text and NEW not in wrong.text
    changed = here.submit("/cuenta/contrasena", {"current": DEMO_PASSWORD, "password": NEW, "confirmation": NEW})
    assert changed.status_code == 302
    assert here.get("/casos").status_code == 200
    assert elsewhere.get("/casos").status_code == 302
    assert choose(Browser(app, DEMO_PASSWORD), f"/cuenta/recuperar/{reset}").status_code == 404  # links end too
    assert verify_password(account(app, "gestor.rm").password_hash, NEW, "test")
    assert ("password.changed", str(account(app, "gestor.rm").id)) in actions(app)


def test_guessing_the_current_password_from_a_stolen_session_is_slowed_down(app: Any) -> None:
    thief = Browser(app, DEMO_PASSWORD)
    thief.login("gestor.rm")
    for n in range(throttling.FREE):
        thief.submit("/cuenta/contrasena", {"current": f"intento-{n}", "password": NEW, "confirmation": NEW})
    right = thief.submit("/cuenta/contrasena", {"current": DEMO_PASSWORD, "password": NEW, "confirmation": NEW})
    assert right.status_code == 400  # even the right one, too soon
    assert verify_password(account(app, "gestor.rm").password_hash, DEMO_PASSWORD, "test")


def test_a_real_worker_mails_the_link_that_the_request_queued(app: Any, database_url: str, tmp_path: Any) -> None:
    """End to end: the web request queues ids only; a Celery worker process issues the link, records the
    request and sends the e-mail through SMTP; the link from the e-mail sets the new password."""
    from ..clocks.harness import HangingSMTP, celery_processes, wait_for

    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    celery = app.extensions["celery"]
    celery.conf.broker_url, celery.conf.broker_transport = broker_settings(broker)
    browser = Browser(app, DEMO_PASSWORD)
    with HangingSMTP() as smtp, celery_processes(database_url, tmp_path / "celery", broker, **smtp.settings()) as run:
        assert _ask(browser, "nadie@demo.cl").status_code == 200
        assert _ask(browser, "gestor.rm@demo.cl").status_code == 200
        run.worker()
        wait_for(lambda: smtp.received, 60, "the reset e-mail")
        wait_for(lambda: "referral.auth.reset_link" in run.log_text() and run.log_text().count("succeeded") >= 2,
                 60, "both tasks")
        assert len(smtp.received) == 1  # none for the unknown e-mail
    message = email.message_from_bytes(smtp.received[0], policy=email.policy.default)
    assert message["To"] == "gestor.rm@demo.cl"
    link = re.search(r"https://protocolo\.example\.cl(/cuenta/recuperar/\S+)", message.get_body().get_content())
    assert link is not None
    assert choose(Browser(app, DEMO_PASSWORD), link.group(1)).status_code == 302
    assert verify_password(account(app, "gestor.rm").password_hash, NEW, "test")
    assert [a for a in actions(app) if a[0].startswith("password")] == [
        ("password.reset_requested", str(account(app, "gestor.rm").id)), ("password.reset", str(account(app, "gestor.rm").id))]


def test_an_oversized_link_is_refused_without_filling_the_session_cookie(app: Any) -> None:
    browser = Browser(app, DEMO_PASSWORD)
    opened = browser.get("/cuenta/activar/" + "a" * 5000)
    assert opened.status_code == 302 and len(opened.headers.get("Set-Cookie", "")) < 1000
    page = browser.get(opened.headers["Location"])
    assert page.status_code == 404 and "Enlace no válido" in page.text


# -- generated input: never a 500, never a typed value in a log ---------------------------------------


@both_backends
def test_fuzzing_the_password_forms(app: Any, no_leaks: Any) -> None:  # noqa: F811
    token = issue(app, "gestor.ta", tokens.ENROL, pending=True)
    person, anonymous = Browser(app, DEMO_PASSWORD), Browser(app, DEMO_PASSWORD)
    person.login("gestor.rm")
    anonymous.get(f"/cuenta/activar/{token}")
    forms = {"/cuenta/contrasena": (person, ["current", "password", "confirmation"]),
             "/cuenta/activar": (anonymous, ["password", "confirmation"]),
             "/cuenta/recuperar": (anonymous, ["email"])}
    tokens_of = {url: hidden_inputs(client.get(url).text)["csrf_token"] for url, (client, _) in forms.items()}
    count, check = no_leaks

    @FUZZ
    @given(url=st.sampled_from(sorted(forms)), pick=st.integers(0, 2), value=values)
    def attempt(url: str, pick: int, value: bytes) -> None:
        client, fields = forms[url]
        since = count()
        data: dict[str, Any] = {"csrf_token": tokens_of[url], **{name: "no-es-la-clave" for name in fields},
                                fields[pick % len(fields)]: value}
        assert answered(post(client.client, url, data)) in (200, 302, 400, 401, 404, 413, 429)
        check(value, since)

    attempt()
