"""Re-authentication before sensitive steps, attacked: a session whose proof of identity is older than
REAUTH_MINUTES cannot export, erase, break the glass or download the node directory until its person
confirms again (password, and the code if she has a second factor). A refused POST loses nothing typed;
a forged `next` stays on the site; wrong confirmations are audited and five end the session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from referral import create_app
from referral.audit.models import AuditEvent
from referral.auth.fresh import is_recent
from referral.auth.models import UserSession
from referral.demo.network import DEMO_PASSWORD
from referral.demo.second_factor import demo_secret
from referral.extensions import database
from referral.web.access import rule_of

from ..browser import DOMAIN, Browser, form_inputs, hidden_inputs
from ..conftest import _settings

CONFIRM = "/cuenta/confirmar"
SENSITIVE = (  # (who, a GET of a sensitive step)
    ("auditor", "/auditoria/estadisticas?formato=csv"),
    ("auditor", "/auditoria/estadisticas?formato=xlsx"),
    ("auditor", "/auditoria/casos?formato=csv"),
    ("auditor", "/auditoria/casos?formato=xlsx"),
    ("auditor", "/auditoria/informe-anual?anio=2026&formato=csv"),
    ("auditor", "/auditoria/informe-anual?anio=2026&formato=xlsx"),
    ("administrador", "/administracion/nodos/exportar"),
    ("administrador", "/administracion/eliminar-caso"),
    ("coordinador.ta", "/acceso-emergencia"),
)


@pytest.fixture
def app(database_url: str, tmp_path: Any, clock: Any) -> Iterator[Flask]:
    app = create_app({**_settings(tmp_path / "instance", database_url, clock), "SESSION_CLOCK": clock})
    yield app
    database.engine(app).dispose()


def events(app: Flask, action: str) -> list[AuditEvent]:
    with database.factory(app)() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def code(name: str, clock: Any, steps: int) -> str:
    return pyotp.TOTP(demo_secret(f"{name}@{DOMAIN}")).at(clock.now, counter_offset=steps)


def confirm(browser: Browser, name: str, clock: Any, *, password: str = DEMO_PASSWORD, steps: int = 1,
            next_url: str | None = None, page: Any = None) -> Any:
    """Fill in the confirmation page (the one given, or /cuenta/confirmar?next=...)."""
    page = page or browser.get(CONFIRM + (f"?next={next_url}" if next_url else ""))
    fields = form_inputs(page.text, CONFIRM)
    return browser.client.post(CONFIRM, data={**fields, "password": password, "code": code(name, clock, steps)})


@pytest.mark.parametrize(("who", "url"), SENSITIVE)
def test_an_old_proof_of_identity_sends_a_sensitive_get_to_the_confirmation_first(app: Flask, browser: Browser,
                                                                                  clock: Any, who: str,
                                                                                  url: str) -> None:
    browser.login(who)
    assert browser.get(url).status_code == 200  # just signed in: the proof is fresh
    clock.advance(minutes=10, seconds=1)
    asked = browser.get(url)
    assert asked.status_code == 302 and urlsplit(asked.headers["Location"]).path == CONFIRM
    confirmed = confirm(browser, who, clock, page=browser.get(asked.headers["Location"]))
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == url
    assert browser.get(url).status_code == 200
    assert [e.actor_role for e in events(app, "reauth.ok")] == [who.split(".")[0]]


def test_the_auditors_pages_themselves_need_no_confirmation(browser: Browser, clock: Any) -> None:
    browser.login("auditor")
    clock.advance(hours=1)
    assert browser.get("/auditoria/estadisticas").status_code == 200
    assert browser.get("/auditoria/casos").status_code == 200


def test_an_expired_verification_forces_reauthentication_before_an_export(app: Flask, browser: Browser,
                                                                           clock: Any) -> None:
    browser.login("auditor")
    clock.advance(minutes=11)
    export = browser.get("/auditoria/casos?formato=csv")
    assert export.status_code == 302 and not export.headers.get("Content-Disposition")
    assert not events(app, "export.audit")  # nothing left the building
    wrong_code = confirm(browser, "auditor", clock, steps=-3, next_url="/auditoria/casos?formato%3Dcsv")
    wrong_password = confirm(browser, "auditor", clock, password="adivinanza", next_url="/auditoria/casos")
    assert wrong_code.status_code == wrong_password.status_code == 401
    assert "La contraseña o el código no son correctos." in wrong_code.text
    assert [e.details for e in events(app, "reauth.failed")] == [{"failures": 1}, {"failures": 2}]
    assert browser.get("/auditoria/casos?formato=csv").status_code == 302
    assert confirm(browser, "auditor", clock, next_url="/auditoria/casos?formato%3Dcsv").status_code == 303
    assert "attachment" in browser.get("/auditoria/casos?formato=csv").headers["Content-Disposition"]


def test_the_confirmation_updates_the_sessions_verified_at(app: Flask, browser: Browser, clock: Any) -> None:
    browser.login("administrador")
    clock.advance(minutes=30)
    confirm(browser, "administrador", clock)
    with database.factory(app)() as session:
        row = session.scalar(select(UserSession))
        assert row is not None and row.verified_at == clock.now


def test_a_replayed_or_older_code_does_not_confirm(browser: Browser, clock: Any) -> None:
    browser.login("administrador")
    clock.advance(minutes=11)
    assert confirm(browser, "administrador", clock, steps=0).status_code == 303
    assert confirm(browser, "administrador", clock, steps=0).status_code == 401  # the same code again
    assert confirm(browser, "administrador", clock, steps=-1).status_code == 401  # in the window, but older
    assert confirm(browser, "administrador", clock, steps=1).status_code == 303


def test_five_wrong_confirmations_end_the_session(app: Flask, browser: Browser, clock: Any) -> None:
    browser.login("coordinador.rm")
    clock.advance(minutes=11)
    for _ in range(4):
        assert confirm(browser, "coordinador.rm", clock, password="x").status_code == 401
    fifth = confirm(browser, "coordinador.rm", clock, password="x")
    assert fifth.status_code == 303 and fifth.headers["Location"] == "/ingresar"
    assert browser.get("/protocolo").status_code == 302  # signed out
    with database.factory(app)() as session:
        assert session.scalar(select(UserSession.revoked_at)) is not None


def test_a_person_without_a_second_factor_confirms_with_her_password(browser: Browser, clock: Any) -> None:
    browser.login("gestor.rm")
    clock.advance(minutes=11)
    asked = browser.get("/cuenta/segundo-factor/activar")
    assert urlsplit(asked.headers["Location"]).path == CONFIRM
    page = browser.get(asked.headers["Location"])
    assert 'name="code"' not in page.text
    answer = browser.client.post(CONFIRM, data={**form_inputs(page.text, CONFIRM), "password": DEMO_PASSWORD})
    assert answer.status_code == 303 and answer.headers["Location"] == "/cuenta/segundo-factor/activar"


def test_a_refused_post_keeps_what_was_typed_and_goes_on_after_confirming(app: Flask, browser: Browser,
                                                                          clock: Any) -> None:
    browser.login("administrador")
    form = hidden_inputs(browser.get("/administracion/eliminar-caso").text)
    clock.advance(minutes=11)
    typed = {**form, "reference": "TP-AAAA-BBBB", "reason": "ingreso_erroneo", "confirmation": "TP-AAAA-BBBB"}
    refused = browser.client.post("/administracion/eliminar-caso", data=typed)
    assert refused.status_code == 401 and "Confirme que es usted" in refused.text
    assert 'name="carry.reference" value="TP-AAAA-BBBB"' in refused.text
    assert not events(app, "case.erased")
    go_on = confirm(browser, "administrador", clock, page=refused)
    assert go_on.status_code == 200 and 'action="/administracion/eliminar-caso"' in go_on.text
    fields = hidden_inputs(go_on.text)
    assert {k: fields[k] for k in ("reference", "reason", "confirmation")} == {
        "reference": "TP-AAAA-BBBB", "reason": "ingreso_erroneo", "confirmation": "TP-AAAA-BBBB"}
    sent = browser.client.post("/administracion/eliminar-caso", data=fields)
    assert sent.status_code == 400 and "TP-AAAA-BBBB" in sent.text  # reached the form: no such case


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example/",
                                    "javascript:alert(1)"])
def test_a_forged_next_on_the_confirmation_stays_on_site(browser: Browser, clock: Any, target: str) -> None:
    browser.login("auditor")
    answer = confirm(browser, "auditor", clock, next_url=target)
    location = answer.headers["Location"]
    assert answer.status_code == 303 and not urlsplit(location).scheme and not urlsplit(location).netloc
    assert location.startswith("/") and not location.startswith(("//", "/\\"))


def test_the_window_is_a_setting(database_url: str, tmp_path: Any, clock: Any) -> None:
    app = create_app({**_settings(tmp_path / "short", database_url, clock), "SESSION_CLOCK": clock,
                      "REAUTH_MINUTES": 1})
    try:
        browser = Browser(app, DEMO_PASSWORD)
        browser.login("administrador")
        clock.advance(seconds=61)
        assert browser.get("/administracion/nodos/exportar").status_code == 302
    finally:
        database.engine(app).dispose()


def test_the_marked_views_keep_their_access_rules(app: Flask) -> None:
    for endpoint in ("admin.erase", "referrals.emergency", "network.export", "stats.statistics", "stats.cases",
                     "auth.enrol_second_factor", "auth.remove", "auth.regenerate", "network.node_members",
                     "network.edit_member", "network.decide"):
        view = app.view_functions[endpoint]
        assert rule_of(app, endpoint) is not None and re.search("recently_verified", repr(view.__dict__)), endpoint


def test_a_proof_from_the_future_or_none_at_all_is_not_recent(clock: Any) -> None:
    from datetime import timedelta

    assert is_recent(clock.now, clock.now, timedelta(minutes=10))
    assert not is_recent(None, clock.now, timedelta(minutes=10))
    assert not is_recent(clock.now + timedelta(seconds=1), clock.now, timedelta(minutes=10))
    assert not is_recent(clock.now - timedelta(minutes=10, seconds=1), clock.now, timedelta(minutes=10))


def test_account_grants_and_their_approval_ask_for_a_fresh_proof(app: Flask, clock: Any) -> None:
    """Whoever finds an administrator's or an approver's unlocked session an hour later cannot create an
    account, raise a role or approve a request with it: each POST asks for the password and the code."""
    from ..network.accounts import APPROVALS, APPROVER, account, create, edit, grants_about
    from ..units import unit_of_work

    admin = Browser(app, DEMO_PASSWORD)
    admin.login("administrador")
    clock.advance(minutes=11)
    with unit_of_work(app) as ctx:
        created = create(admin.client, ctx, "PAV", email="intrusa@correo.cl", display_name="Intrusa",
                         role="coordinador")
        assert created.status_code == 401 and "Confirme que es usted" in created.text
        assert 'value="intrusa@correo.cl"' in created.text  # carried, not lost
        raised = edit(admin.client, ctx, "salud.rm@demo.cl", role="coordinador")
        assert raised.status_code == 401
        assert ctx.session.scalar(select(AuditEvent.seq).where(AuditEvent.action == "account.created")) is None
    confirm(admin, "administrador", clock)
    with unit_of_work(app) as ctx:
        assert edit(admin.client, ctx, "salud.rm@demo.cl", role="coordinador").status_code == 303
        [grant] = grants_about(ctx, account(ctx, "salud.rm@demo.cl").id)

    approver = Browser(app, DEMO_PASSWORD)
    approver.login(APPROVER)
    token = hidden_inputs(approver.get(APPROVALS).text)["csrf_token"]
    clock.advance(minutes=11)
    stale = approver.client.post(f"{APPROVALS}/{grant.id}", data={"csrf_token": token, "decision": "aprobar",
                                                                  "reason": "funciones_verificadas"})
    assert stale.status_code == 401
    with unit_of_work(app) as ctx:
        assert grants_about(ctx, grant.user_id)[0].state == "pendiente"
        assert account(ctx, "salud.rm@demo.cl").role == "deteccion"
    go_on = confirm(approver, APPROVER, clock, page=stale)
    assert go_on.status_code == 200
    sent = approver.client.post(f"{APPROVALS}/{grant.id}", data=hidden_inputs(go_on.text))
    assert sent.status_code in (200, 303)
    with unit_of_work(app) as ctx:
        assert account(ctx, "salud.rm@demo.cl").role == "coordinador"
