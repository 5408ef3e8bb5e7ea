"""Two-factor authentication, attacked: the password alone, a replayed or an old code, a used recovery code,
the half-signed-in cookie on another page, a late or a hammered second step, a forged `next`. Real database,
real argon2 and AES-GCM; sessions and codes run on the test clock (SESSION_CLOCK) so steps can be moved."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select, update

from referral import create_app
from referral.audit.models import AuditEvent
from referral.auth import second_factor as factors
from referral.auth.models import RecoveryCode, SecondFactor, User, UserSession
from referral.demo.network import DEMO_PASSWORD
from referral.demo.second_factor import demo_secret
from referral.extensions import database
from referral.vault import DecryptionFailed, MasterKey, MasterKeyring, Vault

from ..backends import both_backends
from ..browser import CODE_PAGE, ENROL_PAGE, DOMAIN, Browser, hidden_inputs
from ..conftest import _settings
from ..definitions import refusal_of, rewritten

MANDATORY = ("coordinador.rm", "coordinacion.nacional", "migraciones", "auditor", "administrador")


@pytest.fixture
def app(database_url: str, tmp_path: Any, clock: Any) -> Iterator[Flask]:
    app = create_app({**_settings(tmp_path / "instance", database_url, clock), "SESSION_CLOCK": clock})
    yield app
    database.engine(app).dispose()


def db(app: Flask) -> Any:
    return database.factory(app)()


def user_id(app: Flask, name: str) -> int:
    with db(app) as session:
        return int(session.scalar(select(User.id).where(User.email == f"{name}@{DOMAIN}")))


def sessions_of(app: Flask, name: str) -> int:
    with db(app) as session:
        return session.scalar(select(func.count()).select_from(UserSession)
                              .where(UserSession.user_id == user_id(app, name))) or 0


def events(app: Flask, action: str) -> list[AuditEvent]:
    with db(app) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def code_at(name: str, moment: dt.datetime, steps: int = 0) -> str:
    """What the demo authenticator of `name` shows at `moment` (moved by `steps` of 30 seconds)."""
    return pyotp.TOTP(demo_secret(f"{name}@{DOMAIN}")).at(moment, counter_offset=steps)


def password_step(browser: Browser, name: str, target: str | None = None, password: str = DEMO_PASSWORD) -> Any:
    url = "/ingresar" if target is None else f"/ingresar?next={target}"
    page = browser.get(url)
    return browser.client.post(url, data={**hidden_inputs(page.text), "email": f"{name}@{DOMAIN}",
                                          "password": password})


def type_code(browser: Browser, code: str) -> Any:
    page = browser.get(CODE_PAGE)
    return browser.client.post(CODE_PAGE, data={**hidden_inputs(page.text), "code": code})


def signed_in(browser: Browser) -> bool:
    return browser.get("/protocolo").status_code == 200


# -- the password alone ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MANDATORY)
def test_the_password_alone_never_signs_in_a_person_who_must_have_a_second_factor(app: Flask, browser: Browser,
                                                                                   name: str) -> None:
    answer = password_step(browser, name)
    assert answer.status_code == 302 and answer.headers["Location"] == CODE_PAGE
    assert sessions_of(app, name) == 0 and not signed_in(browser)
    assert not events(app, "login.ok")


def test_a_person_without_a_second_factor_signs_in_with_her_password(app: Flask, browser: Browser) -> None:
    answer = password_step(browser, "gestor.rm")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert signed_in(browser)


def test_the_right_code_signs_in_and_audits_the_session(app: Flask, browser: Browser, clock: Any) -> None:
    password_step(browser, "coordinador.rm")
    answer = type_code(browser, code_at("coordinador.rm", clock.now))
    location = urlsplit(answer.headers["Location"])
    assert answer.status_code == 302 and not location.scheme and not location.netloc
    assert answer.headers["Location"].startswith("/") and not answer.headers["Location"].startswith(("//", "/\\"))
    assert signed_in(browser) and sessions_of(app, "coordinador.rm") == 1
    assert [e.actor_role for e in events(app, "login.ok")] == ["coordinador"]


def test_the_half_signed_in_cookie_opens_no_other_page(app: Flask, browser: Browser) -> None:
    password_step(browser, "administrador")
    for path in ("/protocolo", "/casos", "/cuenta/sesiones", "/cuenta/segundo-factor", "/cuenta/confirmar",
                 "/administracion/nodos", "/administracion/nodos/exportar", "/administracion/eliminar-caso"):
        answer = browser.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/ingresar?next="), path
    token = hidden_inputs(browser.get(CODE_PAGE).text)["csrf_token"]
    for path in ("/salir", "/cuenta/segundo-factor/codigos", "/administracion/nodos/nuevo"):
        assert browser.client.post(path, data={"csrf_token": token}).status_code == 401, path
    assert browser.get(ENROL_PAGE).headers["Location"].startswith("/ingresar")  # nor the other second step
    assert sessions_of(app, "administrador") == 0


# -- codes: drift, replay, lateness, hammering ---------------------------------------------------------


def test_a_code_one_step_off_is_accepted_and_two_steps_off_is_not(app: Flask, make_browser: Any, clock: Any) -> None:
    late = make_browser()
    password_step(late, "auditor")
    assert type_code(late, code_at("auditor", clock.now, steps=-2)).status_code == 401
    assert type_code(late, code_at("auditor", clock.now, steps=2)).status_code == 401
    assert type_code(late, code_at("auditor", clock.now, steps=-1)).status_code == 302


def test_a_replayed_code_is_refused(app: Flask, make_browser: Any, clock: Any) -> None:
    code = code_at("migraciones", clock.now)
    first, thief = make_browser(), make_browser()
    password_step(first, "migraciones")
    assert type_code(first, code).status_code == 302
    password_step(thief, "migraciones")
    replay = type_code(thief, code)
    assert replay.status_code == 401 and "Código incorrecto o ya usado." in replay.text
    assert not signed_in(thief) and sessions_of(app, "migraciones") == 1
    failed = events(app, "second_factor.failed")
    assert [(e.actor_role, e.subject, e.details) for e in failed] == [
        ("migraciones", str(user_id(app, "migraciones")), {"purpose": "login", "failures": 1})]


def test_a_code_of_a_step_before_the_last_accepted_one_is_refused(app: Flask, make_browser: Any, clock: Any) -> None:
    ahead, behind = make_browser(), make_browser()
    password_step(ahead, "auditor")
    assert type_code(ahead, code_at("auditor", clock.now, steps=1)).status_code == 302
    password_step(behind, "auditor")
    assert type_code(behind, code_at("auditor", clock.now)).status_code == 401  # still valid in time, but older


@both_backends
def test_two_requests_with_one_code_cannot_both_be_accepted(app: Flask, clock: Any) -> None:
    """Both requests read the authenticator before either writes: the conditional UPDATE lets one win."""
    uid, masters = user_id(app, "coordinador.ta"), app.extensions["referral.vault"].masters
    code = code_at("coordinador.ta", clock.now)
    with db(app) as one, db(app) as two:
        first, second = (factors.active_factor(s, uid) for s in (one, two))
        assert first is not None and second is not None
        won_first = factors.use_totp(one, masters, first, code, clock.now)
        one.commit()
        won_second = factors.use_totp(two, masters, second, code, clock.now)
        two.commit()
    assert (won_first, won_second) == (True, False)


def test_a_pending_login_older_than_five_minutes_is_refused(app: Flask, browser: Browser, clock: Any) -> None:
    password_step(browser, "coordinacion.nacional")
    page = browser.get(CODE_PAGE)  # the page is open; the code is typed too late
    clock.advance(minutes=5, seconds=1)
    late = browser.client.post(CODE_PAGE, data={**hidden_inputs(page.text),
                                                "code": code_at("coordinacion.nacional", clock.now)})
    assert late.status_code == 302 and late.headers["Location"].startswith("/ingresar?next=")
    assert not signed_in(browser) and sessions_of(app, "coordinacion.nacional") == 0


def test_five_wrong_codes_send_the_person_back_to_her_password(app: Flask, browser: Browser, clock: Any) -> None:
    password_step(browser, "coordinador.rm")
    for _ in range(4):
        assert type_code(browser, "000000").status_code == 401
    fifth = type_code(browser, "000000")
    assert fifth.status_code == 302 and fifth.headers["Location"].startswith("/ingresar")
    assert browser.get(CODE_PAGE).status_code == 302  # the attempt is over, even with the right code
    assert not signed_in(browser)


def test_replaying_an_earlier_cookie_does_not_reset_the_count_of_wrong_codes(app: Flask, browser: Browser,
                                                                           clock: Any) -> None:
    password_step(browser, "coordinador.rm")
    fresh_cookie, form = browser.client.get_cookie("session").value, hidden_inputs(browser.get(CODE_PAGE).text)
    for _ in range(4):
        assert browser.client.post(CODE_PAGE, data={**form, "code": "000000"}).status_code == 401
    browser.client.set_cookie("session", fresh_cookie)  # as if no code had been tried yet
    fifth = browser.client.post(CODE_PAGE, data={**form, "code": "000000"})
    assert fifth.status_code == 302 and fifth.headers["Location"].startswith("/ingresar")  # counted on the server
    browser.client.set_cookie("session", fresh_cookie)
    right = browser.client.post(CODE_PAGE, data={**form, "code": code_at("coordinador.rm", clock.now)})
    assert right.status_code == 302 and right.headers["Location"].startswith("/ingresar")
    assert not signed_in(browser)


def test_ten_wrong_codes_in_an_hour_stop_the_second_step_for_that_hour(app: Flask, browser: Browser,
                                                                        clock: Any) -> None:
    for _ in range(2):
        password_step(browser, "auditor")
        for _ in range(factors.MAX_FAILURES):
            type_code(browser, "111111")
    refused = password_step(browser, "auditor")
    assert refused.status_code == 302 and "/ingresar/codigo" not in refused.headers["Location"]
    assert events(app, "second_factor.failed")[-1].details == {"purpose": "login", "reason": "hourly_limit"}
    clock.advance(minutes=61)
    assert password_step(browser, "auditor").headers["Location"] == CODE_PAGE


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example/"])
def test_a_forged_next_never_leads_off_site_after_the_code(browser: Browser, clock: Any, target: str) -> None:
    password_step(browser, "coordinador.rm", target)
    answer = type_code(browser, code_at("coordinador.rm", clock.now))
    location = urlsplit(answer.headers["Location"])
    assert answer.status_code == 302 and not location.scheme and not location.netloc
    assert answer.headers["Location"].startswith("/") and not answer.headers["Location"].startswith(("//", "/\\"))


def test_the_page_asked_for_is_where_the_code_leads(browser: Browser, clock: Any) -> None:
    login_url = browser.get("/casos?estado=detectado").headers["Location"]
    page = browser.get(login_url)
    browser.client.post(login_url, data={**hidden_inputs(page.text), "email": "coordinador.rm@demo.cl",
                                         "password": DEMO_PASSWORD})
    answer = type_code(browser, code_at("coordinador.rm", clock.now))
    assert answer.headers["Location"] == "/casos?estado=detectado"


# -- recovery codes ----------------------------------------------------------------------------------


def enrol(browser: Browser, clock: Any, url: str = "/cuenta/segundo-factor/activar") -> tuple[str, list[str], Any]:
    """Scan (read the key off the page), type a code: (the secret, the recovery codes shown, the answer)."""
    page = browser.get(url)
    svg = re.search(r"<svg[\s\S]*?</svg>", page.text)  # inline, and nothing in it the CSP would block
    assert page.status_code == 200 and svg and "style" not in svg.group(0) and "script" not in svg.group(0)
    secret = re.search(r'class="secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
    answer = browser.client.post(url, data={**hidden_inputs(page.text), "code": pyotp.TOTP(secret).at(clock.now)})
    return secret, re.findall(r"<code>([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})</code>", answer.text), answer


def test_a_recovery_code_works_once_and_says_how_many_remain(app: Flask, browser: Browser, make_browser: Any,
                                                             clock: Any) -> None:
    browser.login("gestor.rm")
    _secret, codes, _answer = enrol(browser, clock)
    assert len(codes) == factors.RECOVERY_CODES == len(set(codes))
    lost_phone = make_browser()
    password_step(lost_phone, "gestor.rm")
    answer = type_code(lost_phone, codes[3].lower().replace("-", " "))
    assert answer.status_code == 302 and "Le quedan 9" in lost_phone.get("/protocolo").text
    assert [e.details for e in events(app, "recovery_code.used")] == [{"remaining": 9}]
    again = make_browser()
    password_step(again, "gestor.rm")
    assert type_code(again, codes[3]).status_code == 401 and not signed_in(again)


def test_new_recovery_codes_end_the_old_ones(app: Flask, browser: Browser, make_browser: Any, clock: Any) -> None:
    browser.login("gestor.rm")
    _secret, old, _answer = enrol(browser, clock)
    page = browser.get("/cuenta/segundo-factor")
    fresh = browser.client.post("/cuenta/segundo-factor/codigos", data=hidden_inputs(page.text))
    new = re.findall(r"<code>([2-9A-Z-]{14})</code>", fresh.text)
    assert fresh.status_code == 200 and len(new) == 10 and not set(new) & set(old)
    assert len(events(app, "recovery_codes.regenerated")) == 1
    other = make_browser()
    password_step(other, "gestor.rm")
    assert type_code(other, old[0]).status_code == 401
    assert type_code(other, new[0]).status_code == 302


def test_recovery_codes_are_kept_hashed(app: Flask, browser: Browser, clock: Any) -> None:
    browser.login("gestor.rm")
    _secret, codes, _answer = enrol(browser, clock)
    with db(app) as session:
        stored = list(session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and all(h.startswith("$argon2id$") for h in stored)
    assert not any(code.replace("-", "") in h or code in h for code in codes for h in stored)


# -- enrolment ---------------------------------------------------------------------------------------


def test_a_person_who_must_have_one_and_has_none_enrols_before_anything_else(app: Flask, browser: Browser,
                                                                            clock: Any) -> None:
    with db(app) as session:
        session.execute(update(SecondFactor).where(SecondFactor.user_id == user_id(app, "coordinador.ta"))
                        .values(confirmed_at=None))
        session.commit()
    answer = password_step(browser, "coordinador.ta", "/casos")
    assert answer.headers["Location"] == ENROL_PAGE
    assert browser.get("/casos").headers["Location"].startswith("/ingresar?next=")
    assert sessions_of(app, "coordinador.ta") == 0
    _secret, codes, shown = enrol(browser, clock, ENROL_PAGE)
    assert shown.status_code == 200 and len(codes) == 10 and 'href="/casos"' in shown.text
    assert signed_in(browser)
    assert [e.details for e in events(app, "second_factor.enrolled")] == [{"at": "sign_in"}]


def test_members_of_national_coordination_need_one_whatever_their_role(app: Flask, ctx: Any) -> None:
    definition = ctx.definition
    assert definition.second_factor_required("gestor", ["coordinacion_nacional"])
    assert not definition.second_factor_required("gestor", ["punto_focal"])
    assert definition.second_factor_required("auditor", [])
    pav_worker = User(email="equipo.pav@demo.cl", display_name="Equipo PAV", password_hash="x", role="gestor",
                      node_id=ctx.session.scalar(select(User.node_id).where(User.email == "administrador@demo.cl")))
    ctx.session.add(pav_worker)
    ctx.session.flush()
    assert factors.required(ctx.session, definition, pav_worker)
    assert not factors.required(ctx.session, definition, ctx.session.scalar(
        select(User).where(User.email == "gestor.rm@demo.cl")))


@pytest.mark.parametrize(("where", "value"), [("roles", "maybe"), ("roles", True), ("assignments", "always")])
def test_the_loader_refuses_a_second_factor_that_is_neither_required_nor_optional(tmp_path: Any, where: str,
                                                                                  value: Any) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        key = "auditor" if where == "roles" else "coordinacion_nacional"
        raw[where][key]["second_factor"] = value

    message = refusal_of(rewritten(tmp_path, mutate))
    assert f"{where}." in message and "second_factor" in message


def test_relations_take_no_second_factor(tmp_path: Any) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["relations"]["punto_focal"] = {"label": raw["relations"]["punto_focal"], "second_factor": "required"}

    assert "second_factor" in refusal_of(rewritten(tmp_path, mutate))


def test_a_voluntary_second_factor_is_asked_at_sign_in_and_can_be_removed(app: Flask, browser: Browser,
                                                                          make_browser: Any, clock: Any) -> None:
    browser.login("salud.rm")
    secret, _codes, _answer = enrol(browser, clock)
    assert [e.details for e in events(app, "second_factor.enrolled")] == [{"at": "account"}]
    later = make_browser()
    assert password_step(later, "salud.rm").headers["Location"] == CODE_PAGE
    assert type_code(later, pyotp.TOTP(secret).at(clock.now, counter_offset=1)).status_code == 302
    page = later.get("/cuenta/segundo-factor")
    assert later.client.post("/cuenta/segundo-factor/quitar", data=hidden_inputs(page.text)).status_code == 303
    assert len(events(app, "second_factor.removed")) == 1
    assert password_step(make_browser(), "salud.rm").headers["Location"] == "/"


def test_a_person_who_must_have_one_cannot_remove_it(app: Flask, browser: Browser) -> None:
    browser.login("auditor")
    page = browser.get("/cuenta/segundo-factor")
    assert "Quitar el segundo factor" not in page.text
    answer = browser.client.post("/cuenta/segundo-factor/quitar", data=hidden_inputs(page.text))
    assert answer.status_code == 303 and not events(app, "second_factor.removed")
    with db(app) as session:
        assert factors.active_factor(session, user_id(app, "auditor")) is not None


def test_a_wrong_first_code_does_not_enrol(app: Flask, browser: Browser) -> None:
    browser.login("gestor.rm")
    page = browser.get("/cuenta/segundo-factor/activar")
    wrong = browser.client.post("/cuenta/segundo-factor/activar", data={**hidden_inputs(page.text), "code": "12345"})
    assert wrong.status_code == 401 and "<svg" in wrong.text
    with db(app) as session:
        assert factors.active_factor(session, user_id(app, "gestor.rm")) is None


# -- the secret at rest ----------------------------------------------------------------------------


def test_the_secret_is_wrapped_by_the_master_key_and_bound_to_its_account(app: Flask) -> None:
    masters = app.extensions["referral.vault"].masters
    with db(app) as session:
        mine = factors.active_factor(session, user_id(app, "auditor"))
        theirs = factors.active_factor(session, user_id(app, "migraciones"))
        assert mine is not None and theirs is not None
        secret = demo_secret("auditor@demo.cl")
        assert secret.encode() not in mine.secret_wrapped and factors.open_secret(masters, mine) == secret
        mine.secret_wrapped = theirs.secret_wrapped  # a row's ciphertext copied to another account
        with pytest.raises(DecryptionFailed):
            factors.open_secret(masters, mine)


def test_master_key_rotation_rewraps_every_secret(app: Flask) -> None:
    old = app.extensions["referral.vault"].masters
    new = MasterKeyring(MasterKey(bytes(range(32))), [old.primary])
    with db(app) as session:
        enrolled = session.scalar(select(func.count()).select_from(SecondFactor))
        moved = factors.rewrap_secrets(session, Vault(new))
        session.commit()
        # 17 coordinators, migration, the auditor, the administrator, the Mesa's secretariat and 3 plan focal points
        assert moved == enrolled == 24
        assert factors.master_keys_in_use(session) == {new.key_id}
        alone = MasterKeyring(new.primary)
        factor = factors.active_factor(session, user_id(app, "auditor"))
        assert factor is not None and factors.open_secret(alone, factor) == demo_secret("auditor@demo.cl")


# -- the demo ----------------------------------------------------------------------------------------


def test_the_demo_prints_the_code_of_a_demo_account_only(app: Flask, browser: Browser) -> None:
    runner = app.test_cli_runner()
    printed = runner.invoke(args=["demo", "code", "coordinador.rm@demo.cl"])
    assert printed.exit_code == 0 and re.fullmatch(r"\d{6}\n", printed.output)
    browser.login("gestor.rm")
    enrol(browser, app.config["SESSION_CLOCK"])  # a secret of her own: not the demo one
    assert runner.invoke(args=["demo", "code", "gestor.rm@demo.cl"]).exit_code != 0
    app.config["REFERRAL_ENV"] = "production"
    assert runner.invoke(args=["demo", "code", "coordinador.rm@demo.cl"]).exit_code != 0


def test_second_factor_events_hold_codes_and_ids_only(app: Flask, browser: Browser, make_browser: Any,
                                                      clock: Any) -> None:
    password_step(browser, "coordinador.rm")
    type_code(browser, "123456")
    type_code(browser, code_at("coordinador.rm", clock.now))
    for event in events(app, "second_factor.failed") + events(app, "login.ok"):
        text = repr((event.subject, event.details))
        assert "@" not in text and "123456" not in text and demo_secret("coordinador.rm@demo.cl") not in text


@pytest.mark.parametrize("typed", ["12\x0034", "9" * 41, "١٢٣٤٥٦", "\u202e123456", ""])
def test_bad_input_on_the_code_page_is_a_clear_error_and_no_failure_is_free(app: Flask, browser: Browser,
                                                                           typed: str) -> None:
    """Control characters are refused before any view (400, what was typed kept: referral/web/input.py);
    the rest reach the code page, which says the code is wrong or missing."""
    password_step(browser, "coordinador.rm")
    answer = type_code(browser, typed)
    assert answer.status_code in (400, 401) and not signed_in(browser)
    if typed.isprintable():
        assert "Código de verificación" in answer.text
