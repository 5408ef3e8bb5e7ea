"""Login throttling as an attacker tries it: account enumeration, locking a worker out from another
address, bursts, and the per-account limit across addresses (referral/auth/throttling.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.auth import throttling
from referral.auth.models import LoginFailure, User
from referral.demo.network import DEMO_PASSWORD

from ..backends import both_backends
from ..browser import Browser
from ..units import unit_of_work

ATTACKER, WORKER = "203.0.113.66", "198.51.100.7"


def at(app: Any, address: str) -> Browser:
    browser = Browser(app, DEMO_PASSWORD)
    browser.client.environ_base["REMOTE_ADDR"] = address
    return browser


def answer(response: Any, email: str) -> tuple[int, str]:
    """What the person sees, without the CSRF token and the e-mail she typed (kept in the form)."""
    text = re.sub(r"<input[^>]*csrf_token[^>]*>", "", response.text).replace(email, "EMAIL")  # every form's token
    return response.status_code, text


def fail_spaced(app: Any, clock: Any, browser: Browser, name: str, times: int) -> None:
    """Failures each far enough apart to be counted (past the longest wait)."""
    for _ in range(times):
        clock.advance(seconds=throttling.CAP.total_seconds() + 1)
        assert browser.login(name, password="adivinanza-mala").status_code == 401


def deactivate(app: Any, email: str) -> None:
    with unit_of_work(app) as ctx:
        ctx.session.scalar(select(User).where(User.email == email)).active = False
        ctx.session.commit()


@both_backends
def test_unknown_wrong_inactive_and_throttled_get_one_identical_answer(app: Any, clock: Any) -> None:
    deactivate(app, "ong@demo.cl")
    browser = at(app, ATTACKER)
    for _ in range(throttling.FREE):
        browser.login("gestor.rm", password="mala")
    answers = {
        "unknown": answer(browser.login("nadie"), "nadie@demo.cl"),
        "wrong": answer(browser.login("coordinador.rm", password="mala"), "coordinador.rm@demo.cl"),
        "inactive": answer(browser.login("ong"), "ong@demo.cl"),  # the right password
        "throttled": answer(browser.login("gestor.rm"), "gestor.rm@demo.cl"),  # the right password, too soon
    }
    assert len(set(answers.values())) == 1, answers
    status, text = answers["unknown"]
    assert status == 401 and "Correo o contraseña incorrectos" in text and "bloquead" not in text


def test_an_unknown_email_is_throttled_exactly_like_a_real_account(app: Any) -> None:
    browser = at(app, ATTACKER)
    real = [browser.login("gestor.rm", password=f"mala-{i}").status_code for i in range(throttling.FREE + 2)]
    unknown = [browser.login("nadie", password=f"mala-{i}").status_code for i in range(throttling.FREE + 2)]
    assert real == unknown == [401] * (throttling.FREE + 2)
    with unit_of_work(app) as ctx:
        counts = sorted(row.failures for row in ctx.session.scalars(select(LoginFailure)))
    assert counts == [throttling.FREE, throttling.FREE]  # the attempts that came too soon were not counted


def test_failed_logins_name_the_account_in_the_audit_log_but_never_the_typed_email(app: Any) -> None:
    browser = at(app, ATTACKER)
    browser.login("gestor.rm", password="mala")
    browser.login("alguien.inexistente", password="mala")
    with unit_of_work(app) as ctx:
        gestor = ctx.session.scalar(select(User.id).where(User.email == "gestor.rm@demo.cl"))
        events = ctx.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")
                                     .order_by(AuditEvent.seq)).all()
        stored = b"".join(row.account_key + row.address_key for row in ctx.session.scalars(select(LoginFailure)))
    assert [event.subject for event in events] == [str(gestor), None]
    assert all("inexistente" not in repr((e.subject, e.details)) for e in events)
    assert b"inexistente" not in stored and ATTACKER.encode() not in stored  # keyed digests only


@both_backends
def test_an_attacker_at_one_address_cannot_keep_a_worker_out_from_another(app: Any, clock: Any) -> None:
    attacker = at(app, ATTACKER)
    fail_spaced(app, clock, attacker, "gestor.rm", 30)
    assert attacker.login("gestor.rm").status_code == 401  # even the right password: the attacker waits
    worker = at(app, WORKER)
    assert worker.login("gestor.rm").status_code == 302  # at once, from her own address
    # A worker's own typos before the right password still leave her in.
    other = at(app, "198.51.100.8")
    assert other.login("gestor.rm", password="typo").status_code == 401
    assert other.login("gestor.rm").status_code == 302


def test_a_burst_from_one_address_waits_longer_and_longer(app: Any, clock: Any) -> None:
    browser = at(app, ATTACKER)
    for _ in range(throttling.FREE):
        assert browser.login("gestor.rm", password="mala").status_code == 401
    assert browser.login("gestor.rm").status_code == 401  # the right password, one second too soon
    clock.advance(seconds=1)
    assert browser.login("gestor.rm", password="mala").status_code == 401  # the sixth failure: 2 s now
    clock.advance(seconds=1)
    assert browser.login("gestor.rm").status_code == 401
    clock.advance(seconds=1)
    assert browser.login("gestor.rm").status_code == 302


def test_the_account_limit_holds_across_addresses(app: Any, clock: Any) -> None:
    for n in range(4):  # four addresses, three failures each: a botnet spreading its guesses
        fail_spaced(app, clock, at(app, f"192.0.2.{n + 10}"), "gestor.rm", throttling.SHARE)
    points = 4 * throttling.SHARE
    fresh = at(app, "192.0.2.99")
    assert fresh.login("gestor.rm").status_code == 401  # a fifth address must wait too
    clock.advance(seconds=throttling.delay(points).total_seconds() - 1)
    assert fresh.login("gestor.rm").status_code == 401
    clock.advance(seconds=1)
    assert fresh.login("gestor.rm").status_code == 302


def test_waits_double_from_the_free_failures_on_and_stop_at_fifteen_minutes() -> None:
    assert [throttling.delay(n).total_seconds() for n in range(throttling.FREE + 4)] == [0] * throttling.FREE + [1, 2, 4, 8]
    assert throttling.delay(1000) == throttling.CAP == dt.timedelta(minutes=15)


def test_failures_are_forgotten_after_a_day(app: Any, clock: Any) -> None:
    browser = at(app, ATTACKER)
    for _ in range(throttling.FREE + 3):
        browser.login("gestor.rm", password="mala")
    clock.advance(hours=24, seconds=1)
    assert browser.login("gestor.rm").status_code == 302


def test_an_ipv6_attacker_cycling_through_her_64_counts_as_one_address(app: Any, clock: Any) -> None:
    for n in range(8):  # eight addresses of one /64, three failures each
        fail_spaced(app, clock, at(app, f"2001:db8:7:7::{n + 1:x}"), "gestor.rm", throttling.SHARE)
    assert at(app, WORKER).login("gestor.rm").status_code == 302  # still only one address's share
    assert throttling.network_of("2001:db8:7:7::1") == throttling.network_of("2001:db8:7:7:ffff::9")
    assert throttling.network_of("::ffff:198.51.100.7") == "198.51.100.7"


@both_backends
def test_failures_arriving_at_once_are_all_counted_and_none_is_a_500(app: Any) -> None:
    import threading

    browsers = [at(app, ATTACKER) for _ in range(4)]
    pages = [b.get("/ingresar") for b in browsers]
    assert all(page.status_code == 200 for page in pages)
    barrier, statuses = threading.Barrier(len(browsers)), []

    def attempt(browser: Browser) -> None:
        barrier.wait()
        statuses.append(browser.login("gestor.rm", password="mala").status_code)

    threads = [threading.Thread(target=attempt, args=(b,)) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [401] * len(browsers)
    with unit_of_work(app) as ctx:
        assert [row.failures for row in ctx.session.scalars(select(LoginFailure))] == [len(browsers)]
