"""Logging in and out: argon2id, backoff, rate limits (in memory and on Redis), safe redirects.
The attacks on throttling (enumeration, lock-outs from another address) are in tests/auth/test_throttling.py."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import redis
from sqlalchemy import select

from referral import create_app
from referral.auth.models import User
from referral.auth.passwords import hash_password, verify_password
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database

from .browser import Browser, complete_sign_in, hidden_inputs

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def test_the_stored_hash_is_argon2id_and_checks_the_password() -> None:
    stored = hash_password("una frase larga", "test")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "una frase larga", "test")
    assert not verify_password(stored, "otra", "test")


def test_a_user_logs_in_lands_on_her_worklist_and_logs_out(browser: Browser) -> None:
    response = browser.login("coordinador.rm")
    assert response.status_code == 302
    assert browser.get("/", follow_redirects=True).request.path == "/bandeja/triaje"
    out = browser.post("/salir")
    assert out.status_code == 302 and out.headers["Location"].endswith("/ingresar")
    assert browser.get("/casos").status_code == 302


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(browser: Browser) -> None:
    wrong = browser.login("coordinador.rm", password="nope")
    unknown = browser.login("nadie")
    assert wrong.status_code == unknown.status_code == 401
    assert "Correo o contraseña incorrectos" in wrong.text and "Correo o contraseña incorrectos" in unknown.text


def test_five_failures_make_the_next_attempt_wait_even_with_the_right_password(browser: Browser, clock: Any) -> None:
    for _ in range(5):
        browser.login("gestor.rm", password="mala")
    too_soon = browser.login("gestor.rm")
    assert too_soon.status_code == 401 and "demasiados intentos" in too_soon.text
    clock.advance(seconds=1)  # the first wait is one second; no fixed 15-minute lock anyone could set off
    assert browser.login("gestor.rm").status_code == 302


def test_an_inactive_account_cannot_log_in(app: Any, browser: Browser) -> None:
    with app.app_context():
        session = database.session()
        session.scalar(select(User).where(User.email == "ong@demo.cl")).active = False
        session.commit()
    assert browser.login("ong").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_the_next_parameter_never_leads_off_site(browser: Browser, target: str) -> None:
    page = browser.get(f"/ingresar?next={target}")
    response = complete_sign_in(browser.app, browser.client, "coordinador.rm@demo.cl", browser.client.post(
        f"/ingresar?next={target}", data={**hidden_inputs(page.text), "email": "coordinador.rm@demo.cl",
                                           "password": DEMO_PASSWORD}))
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_the_next_parameter_returns_to_the_page_asked_for(browser: Browser) -> None:
    assert browser.get("/casos").headers["Location"] == "/ingresar?next=/casos"
    page = browser.get("/ingresar?next=/casos")
    response = complete_sign_in(browser.app, browser.client, "coordinador.rm@demo.cl", browser.client.post(
        "/ingresar?next=/casos", data={**hidden_inputs(page.text), "email": "coordinador.rm@demo.cl",
                                        "password": DEMO_PASSWORD}))
    assert response.headers["Location"] == "/casos"


def test_the_chosen_language_survives_logging_out(browser: Browser) -> None:
    browser.login("coordinador.rm")
    browser.post("/idioma", {"lang": "en", "next": "/protocolo"})
    browser.post("/salir")
    assert 'lang="en"' in browser.get("/ingresar").text


def _limited_app(database_url: str, tmp_path: Any, clock: Any, storage: str, prefix: str = "") -> Any:
    from .conftest import _settings

    settings = _settings(tmp_path / "limited", database_url, clock)
    settings.update({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage, "LOGIN_LIMIT": "3 per minute",
                     "RATELIMIT_KEY_PREFIX": prefix})
    return create_app(settings)


def _hammer(app: Any) -> list[int]:
    browser = Browser(app, DEMO_PASSWORD)
    return [browser.login("auditor", password=f"intento-{i}").status_code for i in range(4)]


def test_login_attempts_from_one_address_are_rate_limited(database_url: str, tmp_path: Any, clock: Any) -> None:
    app = _limited_app(database_url, tmp_path, clock, "memory://")
    assert _hammer(app) == [401, 401, 401, 429]


def test_login_rate_limits_are_shared_through_redis(database_url: str, tmp_path: Any, clock: Any) -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}, and CI=true requires it", pytrace=False)
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: the shared rate-limit test is skipped")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    first = _limited_app(database_url, tmp_path, clock, REDIS_URL, prefix)
    first_browser = Browser(first, DEMO_PASSWORD)
    assert [first_browser.login("auditor", password=f"x{i}").status_code for i in range(3)] == [401, 401, 401]
    # Another worker process (another app, its own Limiter) sees the same count through Redis.
    second = _limited_app(database_url, tmp_path / "second", clock, REDIS_URL, prefix)
    assert Browser(second, DEMO_PASSWORD).login("auditor", password="otra").status_code == 429
    # Without the shared store, the other process would have counted from zero.
    alone = _limited_app(database_url, tmp_path / "alone", clock, "memory://", prefix)
    assert Browser(alone, DEMO_PASSWORD).login("auditor", password="otra").status_code == 401
