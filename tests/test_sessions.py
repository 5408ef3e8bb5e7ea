"""Server-side sessions (issue 14, item 2): a row per sign-in; logout, "sign out everywhere", deactivation
and a new password end sessions; an absolute lifetime beside the idle one; old cookies sign nobody in."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from referral import StartupError, create_app
from referral.audit.models import AuditEvent
from referral.auth.models import User, UserSession
from referral.auth.passwords import hash_password
from referral.auth.sessions import browser_family
from referral.config import load_settings
from referral.db import utcnow
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database
from referral.network.editing import update_member

from .backends import both_backends
from .browser import Browser, hidden_inputs
from .conftest import _settings
from .units import unit_of_work

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")
EDGE = CHROME + " Edg/126.0.2592.87"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Safari/605.1.15")


@pytest.fixture
def app(database_url: str, tmp_path: Any, clock: Any) -> Iterator[Flask]:
    """Sessions run on the wall clock (the other suites move CLOCK by days while signed in); here on the
    test clock, so that their lifetimes can be tested."""
    app = create_app({**_settings(tmp_path / "instance", database_url, clock), "SESSION_CLOCK": clock})
    yield app
    database.engine(app).dispose()


def signed_in(app: Flask, name: str = "coordinador.rm", agent: str | None = None) -> Browser:
    browser = Browser(app, DEMO_PASSWORD)
    if agent:
        browser.client.environ_base["HTTP_USER_AGENT"] = agent
    assert browser.login(name).status_code == 302
    return browser


def cookie(browser: Browser) -> str:
    found = browser.client.get_cookie("session")
    assert found is not None
    return found.value


def with_cookie(app: Flask, value: str) -> Any:
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def signed_out(response: Any) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/ingresar")


def rows_of(app: Flask, name: str) -> list[UserSession]:
    with unit_of_work(app) as ctx:
        user_id = ctx.session.scalar(select(User.id).where(User.email == f"{name}@demo.cl"))
        return list(ctx.session.scalars(select(UserSession).where(UserSession.user_id == user_id)
                                        .order_by(UserSession.created_at)))


def audit_events(app: Flask) -> list[AuditEvent]:
    with unit_of_work(app) as ctx:
        return list(ctx.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


# -- logout ends the session: the reported attack --------------------------------------------------


@both_backends
def test_a_cookie_replayed_after_logout_is_signed_out(app: Flask) -> None:
    browser = signed_in(app)
    assert browser.get("/casos").status_code == 200
    copied = cookie(browser)
    assert browser.post("/salir").status_code == 302
    replay = with_cookie(app, copied).get("/casos")
    assert signed_out(replay), replay.status_code
    assert with_cookie(app, copied).post("/salir").status_code in (400, 401)  # nor can it act
    (row,) = rows_of(app, "coordinador.rm")
    assert row.revoked_at is not None


def test_a_cookie_copied_before_logout_cannot_post_either(app: Flask) -> None:
    browser = signed_in(app)
    token = hidden_inputs(browser.get("/protocolo").text)["csrf_token"]
    copied = cookie(browser)  # with the CSRF token in it, as a thief would take it
    browser.post("/salir")
    client = with_cookie(app, copied)
    response = client.post("/cuenta/sesiones/cerrar-otras", data={"csrf_token": token})
    assert response.status_code == 401


# -- what the cookie and the table hold ------------------------------------------------------------


def test_the_cookie_names_the_session_and_the_table_keeps_only_its_hash(app: Flask) -> None:
    browser = signed_in(app, agent=FIREFOX)
    data = app.session_interface.get_signing_serializer(app).loads(cookie(browser))  # type: ignore[attr-defined]
    token = data["_user_id"]
    (row,) = rows_of(app, "coordinador.rm")
    assert token != str(row.user_id) and len(token) >= 40  # a random token, not the account's id
    assert row.token_hash == hashlib.sha256(token.encode()).digest()
    assert token not in repr(vars(row)) and token.encode() not in row.token_hash
    assert row.browser == "firefox"  # the family only
    assert row.expires_at - row.created_at == app.permanent_session_lifetime * 6  # 12 h
    assert row.last_seen_at == row.created_at and row.revoked_at is None


def test_a_cookie_issued_before_server_side_sessions_is_signed_out(app: Flask) -> None:
    """Before this change the cookie held the account's id (Flask-Login's `_user_id`)."""
    with unit_of_work(app) as ctx:
        user_id = ctx.session.scalar(select(User.id).where(User.email == "coordinador.rm@demo.cl"))
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    old = serializer.dumps({"_user_id": str(user_id), "_fresh": True, "_permanent": True})
    assert signed_out(with_cookie(app, old).get("/casos"))
    for forged in ("", "x" * 5000, "0" * 43, str(user_id)):
        assert signed_out(with_cookie(app, serializer.dumps({"_user_id": forged})).get("/casos")), forged


# -- lifetimes -------------------------------------------------------------------------------------


@both_backends
def test_a_session_ends_twelve_hours_after_sign_in_however_active(app: Flask, clock: Any) -> None:
    browser = signed_in(app)
    for _ in range(11):
        clock.advance(hours=1)
        assert browser.get("/casos").status_code == 200  # never idle for long
    clock.advance(minutes=59)
    assert browser.get("/casos").status_code == 200
    clock.advance(minutes=1)
    assert signed_out(browser.get("/casos"))
    assert browser.login("coordinador.rm").status_code == 302  # signing in again starts a new one
    assert browser.get("/casos").status_code == 200


def test_the_absolute_lifetime_is_a_setting(database_url: str, tmp_path: Any, clock: Any) -> None:
    app = create_app({**_settings(tmp_path / "short", database_url, clock), "SESSION_CLOCK": clock,
                      "SESSION_ABSOLUTE_HOURS": 1})
    try:
        browser = signed_in(app)
        clock.advance(minutes=59)
        assert browser.get("/casos").status_code == 200
        clock.advance(minutes=1)
        assert signed_out(browser.get("/casos"))
    finally:
        database.engine(app).dispose()


def test_the_absolute_lifetime_setting_fails_closed(tmp_path: Any) -> None:
    assert load_settings(tmp_path, {})["SESSION_ABSOLUTE_HOURS"] == 12
    assert load_settings(tmp_path, {"REFERRAL_SESSION_ABSOLUTE_HOURS": "8"})["SESSION_ABSOLUTE_HOURS"] == 8
    for wrong in ("doce", "0", "-1", "nan", "1000"):
        with pytest.raises(StartupError, match="REFERRAL_SESSION_ABSOLUTE_HOURS"):
            load_settings(tmp_path, {"REFERRAL_SESSION_ABSOLUTE_HOURS": wrong})


@both_backends
def test_a_session_idle_longer_than_the_idle_timeout_ends_on_the_server(app: Flask, clock: Any) -> None:
    """The signed cookie's own age is checked by Flask; the server checks the row too."""
    browser = signed_in(app)
    clock.advance(minutes=90)
    assert browser.get("/casos").status_code == 200  # activity moves last_seen_at
    clock.advance(minutes=119)
    assert browser.get("/casos").status_code == 200
    (row,) = rows_of(app, "coordinador.rm")
    assert row.last_seen_at == clock.now
    clock.advance(hours=2)
    assert signed_out(browser.get("/casos"))


# -- the person's own sessions ---------------------------------------------------------------------


def test_a_person_sees_her_active_sessions_and_which_one_is_this(app: Flask, clock: Any) -> None:
    firefox = signed_in(app, agent=FIREFOX)
    clock.advance(minutes=5)
    chrome = signed_in(app, agent=CHROME)
    signed_in(app, name="gestor.rm", agent=SAFARI)  # someone else's: not listed
    ended = signed_in(app, agent=EDGE)
    ended.post("/salir")  # ended: not listed
    page = chrome.get("/cuenta/sesiones")
    assert page.status_code == 200
    assert "Sus sesiones abiertas" in page.text
    assert page.text.count("Esta sesión") == 1
    assert "Firefox" in page.text and "Chrome" in page.text
    assert "Safari" not in page.text and "Edge" not in page.text
    assert "18-11-2026 12:00" in page.text and "18-11-2026 12:05" in page.text  # local time (Santiago)
    assert FIREFOX not in page.text and "127.0.0.1" not in page.text
    this = page.text.index("Esta sesión")
    assert page.text.index("Chrome") < this < page.text.index("Firefox")  # this one first
    assert 'href="/cuenta/sesiones"' in firefox.get("/protocolo").text  # linked from the header


def test_the_sessions_page_is_in_english_too(app: Flask) -> None:
    browser = signed_in(app, agent=FIREFOX)
    browser.post("/idioma", {"lang": "en", "next": "/cuenta/sesiones"})
    page = browser.get("/cuenta/sesiones")
    assert "Your open sessions" in page.text and "This session" in page.text
    assert "My sessions" in page.text


def test_ending_another_session_signs_that_browser_out(app: Flask) -> None:
    laptop = signed_in(app, agent=FIREFOX)
    phone = signed_in(app, agent=CHROME)
    phone_row = rows_of(app, "coordinador.rm")[1]
    response = laptop.post(f"/cuenta/sesiones/{phone_row.id}/cerrar")
    assert response.status_code == 302 and response.headers["Location"] == "/cuenta/sesiones"
    assert signed_out(phone.get("/casos"))
    assert laptop.get("/casos").status_code == 200
    assert laptop.post(f"/cuenta/sesiones/{phone_row.id}/cerrar").status_code == 404  # already ended
    revoked = [e for e in audit_events(app) if e.action == "session.revoked"]
    assert len(revoked) == 1
    assert (revoked[0].subject, revoked[0].details) == (str(phone_row.id), {"scope": "one"})
    assert revoked[0].actor_role == "coordinador"


def test_ending_this_session_from_the_page_signs_out(app: Flask) -> None:
    browser = signed_in(app)
    (row,) = rows_of(app, "coordinador.rm")
    response = browser.post(f"/cuenta/sesiones/{row.id}/cerrar")
    assert response.status_code == 302 and response.headers["Location"] == "/ingresar"
    assert signed_out(browser.get("/casos"))


def test_sign_out_everywhere_else(app: Flask) -> None:
    others = [signed_in(app, agent=agent) for agent in (FIREFOX, CHROME, SAFARI)]
    here = signed_in(app, agent=EDGE)
    colleague = signed_in(app, name="gestor.rm")
    page = here.get("/cuenta/sesiones")
    assert "Cerrar todas las demás sesiones" in page.text
    response = here.post("/cuenta/sesiones/cerrar-otras")
    assert response.status_code == 302 and response.headers["Location"] == "/cuenta/sesiones"
    assert all(signed_out(other.get("/casos")) for other in others)
    assert here.get("/casos").status_code == 200 and colleague.get("/casos").status_code == 200
    after = here.get("/cuenta/sesiones").text
    assert "Edge" in after and "Firefox" not in after and "No tiene otras sesiones abiertas." in after
    revoked = [e for e in audit_events(app) if e.action == "session.revoked"]
    assert [e.details for e in revoked] == [{"scope": "others", "count": 3}]


# -- accounts that close, passwords that change ----------------------------------------------------


def test_deactivating_an_account_ends_all_its_sessions_for_good(app: Flask) -> None:
    browsers = [signed_in(app, agent=agent) for agent in (FIREFOX, CHROME)]
    copied = cookie(browsers[0])
    with unit_of_work(app) as ctx:
        admin = ctx.session.scalar(select(User).where(User.email == "administrador@demo.cl"))
        member = ctx.session.scalar(select(User).where(User.email == "coordinador.rm@demo.cl"))
        node_id, member_id, role = member.node_id, member.id, member.role
        update_member(ctx, admin, node_id, member_id, role=role, manages_node=False, active=False)
        ctx.session.commit()
    assert all(row.revoked_at is not None for row in rows_of(app, "coordinador.rm"))
    with unit_of_work(app) as ctx:  # an administrator gives the account back
        admin = ctx.session.scalar(select(User).where(User.email == "administrador@demo.cl"))
        update_member(ctx, admin, node_id, member_id, role=role, manages_node=False, active=True)
        ctx.session.commit()
    assert all(signed_out(browser.get("/casos")) for browser in browsers)
    assert signed_out(with_cookie(app, copied).get("/casos"))  # the old sessions stay ended


def test_a_new_password_ends_all_sessions_but_a_rehash_at_sign_in_does_not(app: Flask) -> None:
    first = signed_in(app)
    with unit_of_work(app) as ctx:  # a hash with other parameters: the next sign-in rehashes it
        user = ctx.session.scalar(select(User).where(User.email == "coordinador.rm@demo.cl"))
        user.password_hash = hash_password(DEMO_PASSWORD, "standard")
        ctx.session.commit()
    assert signed_out(first.get("/casos"))  # a password change (here: any new hash) ends it
    second = signed_in(app)
    third = signed_in(app)  # this sign-in rehashed nothing more; the one before did
    assert second.get("/casos").status_code == 200 and third.get("/casos").status_code == 200
    with unit_of_work(app) as ctx:
        stored = ctx.session.scalar(select(User.password_hash).where(User.email == "coordinador.rm@demo.cl"))
    assert "m=8," in stored  # rehashed to the test profile at the second sign-in, which kept its session


# -- audit: codes and ids only ---------------------------------------------------------------------


def test_sign_in_and_logout_are_audited_with_the_session_id_only(app: Flask) -> None:
    browser = signed_in(app, agent=FIREFOX)
    (row,) = rows_of(app, "coordinador.rm")
    browser.post("/salir")
    events = [e for e in audit_events(app) if e.action in ("login.ok", "logout")]
    assert [e.action for e in events] == ["login.ok", "logout"]
    for event in events:
        assert event.subject == str(row.id) and event.actor_role == "coordinador"
        assert event.details == {}
    text = repr([(e.action, e.subject, e.details) for e in audit_events(app)])
    assert "Firefox" not in text and "demo.cl" not in text and "127.0.0.1" not in text


@pytest.mark.parametrize(("agent", "family"), [
    (FIREFOX, "firefox"), (CHROME, "chrome"), (EDGE, "edge"), (SAFARI, "safari"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 "
     "OPR/82.0", "opera"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/126.0 Mobile/15E148 Safari/604.1", "chrome"),
    ("curl/8.5.0", "other"), ("", "other"), (None, "other"),
])
def test_only_the_browser_family_is_kept(agent: str | None, family: str) -> None:
    assert browser_family(agent) == family


def test_sessions_run_on_the_wall_clock_not_on_the_apps_clock(database_url: str, tmp_path: Any, clock: Any) -> None:
    """Without SESSION_CLOCK (production, and every other suite), moving the app's CLOCK by days keeps
    browsers signed in; the session's times are wall-clock times."""
    app = create_app(_settings(tmp_path / "wall", database_url, clock))
    try:
        browser = signed_in(app)
        clock.advance(days=3)
        assert browser.get("/casos").status_code == 200
        (row,) = rows_of(app, "coordinador.rm")
        assert abs(row.created_at - utcnow()).total_seconds() < 60
    finally:
        database.engine(app).dispose()
