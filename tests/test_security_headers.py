"""The HTTP edges (issue 14, item 6): security headers on every answer, HSTS and `__Host-` cookies in
production, and X-Forwarded-* believed only from as many proxies as REFERRAL_TRUSTED_PROXIES says.

The production application is built by the app factory from the settings `load_settings` makes of a
production environment, on a test database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask_limiter.util import get_remote_address
from sqlalchemy import select

from referral import create_app
from referral.auth import throttling
from referral.auth.models import LoginFailure
from referral.config import load_settings
from referral.demo.network import DEMO_PASSWORD
from referral.extensions import database

from .browser import Browser, hidden_inputs
from .conftest import MASTER_KEY, _settings

HTTPS = "https://localhost"
HSTS = "max-age=63072000; includeSubDomains"
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb", "serial", "hid", "midi",
                   "display-capture")
PRODUCTION = {"REFERRAL_ENV": "production", "REFERRAL_SECRET_KEY": secrets.token_urlsafe(48),
              "REFERRAL_MASTER_KEY": MASTER_KEY}


def build(database_url: str, instance: Path, clock: Any, environ: dict[str, str], **extra: Any) -> Flask:
    """An application as `environ` would configure it, on the test database."""
    settings = load_settings(instance, environ)
    tests = {key: value for key, value in _settings(instance, database_url, clock).items() if key != "SECRET_KEY"}
    return create_app({**settings, **tests, **extra})


@pytest.fixture
def production(database_url: str, tmp_path: Path, clock: Any) -> Iterator[Flask]:
    app = build(database_url, tmp_path / "instance", clock, PRODUCTION)
    yield app
    database.engine(app).dispose()


def https_browser(app: Flask, referrer: str = f"{HTTPS}/ingresar") -> Browser:
    """A browser on the HTTPS address; Referrer-Policy same-origin has it name our page on each request."""
    browser = Browser(app, DEMO_PASSWORD)
    browser.client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": referrer})
    return browser


def session_cookie_header(response: Any) -> str:
    (header,) = [value for value in response.headers.getlist("Set-Cookie") if "session=" in value.split(";")[0]]
    return header


# -- headers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/ingresar", "/no-such-page", "/static/style.css"])
def test_production_answers_carry_hsts_and_the_other_security_headers(production: Flask, url: str) -> None:
    response = https_browser(production).get(url)
    response.close()
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"  # our own pages only: the CSRF check needs it
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("url", ["/ingresar", "/no-such-page"])
def test_no_page_may_use_a_camera_a_microphone_the_location_or_payments(app: Flask, production: Flask, url: str
                                                                        ) -> None:
    for application in (app, production):
        policy = dict(item.split("=", 1) for item in
                      application.test_client().get(url).headers["Permissions-Policy"].split(", "))
        assert all(policy[feature] == "()" for feature in DENIED_FEATURES)


def test_development_sends_no_hsts_since_it_runs_on_plain_http(app: Flask) -> None:
    response = app.test_client().get("/ingresar")
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- cookies ----------------------------------------------------------------------------------------------


def test_the_production_session_cookie_is_a_host_only_secure_cookie(production: Flask) -> None:
    """`__Host-`: a browser keeps it only when Secure, for Path=/ and without Domain, so a sibling
    subdomain cannot plant or overwrite it (cookie tossing), and it never travels over plain HTTP."""
    browser = https_browser(production)
    response = browser.login("coordinador.rm")
    assert response.status_code == 302
    header = session_cookie_header(response)
    attributes = [part.strip().lower() for part in header.split(";")]
    assert header.startswith("__Host-session=")
    assert "secure" in attributes and "httponly" in attributes and "path=/" in attributes
    assert "samesite=lax" in attributes and not any(part.startswith("domain") for part in attributes)
    assert browser.get("/casos").status_code == 200  # the application reads it back


def test_a_session_cookie_under_the_development_name_signs_nobody_in_in_production(production: Flask) -> None:
    browser = https_browser(production)
    browser.login("coordinador.rm")
    stolen = browser.client.get_cookie("__Host-session")
    assert stolen is not None
    planted = production.test_client()
    planted.set_cookie("session", stolen.value)
    response = planted.get("/casos", base_url=HTTPS)
    assert response.status_code == 302 and response.headers["Location"].startswith("/ingresar")


@pytest.mark.parametrize("referrer", ["https://evil.example/ingresar", ""])
def test_over_https_a_post_from_another_site_is_refused_even_with_a_valid_token(production: Flask, referrer: str
                                                                               ) -> None:
    """A page elsewhere that got hold of a CSRF token still cannot post: over HTTPS the Referer must be ours
    (which is why the Referrer-Policy is same-origin rather than no-referrer)."""
    assert https_browser(production, referrer).login("coordinador.rm").status_code == 400
    assert https_browser(production).login("coordinador.rm").status_code == 302


def test_development_keeps_the_plain_cookie_it_can_send_over_http(app: Flask) -> None:
    browser = Browser(app, DEMO_PASSWORD)
    header = session_cookie_header(browser.login("coordinador.rm"))
    assert header.startswith("session=") and "secure" not in header.lower()


# -- reverse proxies -----------------------------------------------------------------------------------


def seen_from(app: Flask, headers: dict[str, str]) -> tuple[str | None, str | None, str, str]:
    """The client address (as the request and the login rate limiter see it), scheme and host."""
    client = app.test_client()
    with client:
        client.get("/ingresar", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"})
        return request.remote_addr, get_remote_address(), request.scheme, request.host


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "protocolo.example.cl"}


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(app: Flask) -> None:
    """An attacker sends X-Forwarded-For to look like another address at each login attempt: the
    application still sees the connection's own address, so the rate limit keeps counting her."""
    assert app.config["TRUSTED_PROXIES"] == 0
    for forged in ("203.0.113.7", "198.51.100.1, 203.0.113.8"):
        address, limited_as, scheme, host = seen_from(app, {**FORWARDED, "X-Forwarded-For": forged})
        assert address == limited_as == "10.0.0.2"
        assert (scheme, host) == ("http", "localhost")


def test_behind_one_trusted_proxy_the_client_is_the_address_it_forwards(
        database_url: str, tmp_path: Path, clock: Any) -> None:
    app = build(database_url, tmp_path / "instance", clock, {**PRODUCTION, "REFERRAL_TRUSTED_PROXIES": "1"})
    try:
        assert seen_from(app, FORWARDED) == ("203.0.113.7", "203.0.113.7", "https", "protocolo.example.cl")
        # A client that sends its own X-Forwarded-For gets the proxy's entry appended: only that one counts.
        forged = {**FORWARDED, "X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
        assert seen_from(app, forged)[:2] == ("203.0.113.7", "203.0.113.7")
    finally:
        database.engine(app).dispose()


def test_two_trusted_proxies_take_the_second_address_from_the_end(
        database_url: str, tmp_path: Path, clock: Any) -> None:
    app = build(database_url, tmp_path / "instance", clock, {**PRODUCTION, "REFERRAL_TRUSTED_PROXIES": "2"})
    try:
        forged = {**FORWARDED, "X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.0.0.1"}
        assert seen_from(app, forged)[:2] == ("203.0.113.7", "203.0.113.7")
    finally:
        database.engine(app).dispose()


# -- the login throttle behind (or without) a proxy (issue 17, item 7) ---------------------------------------


def throttled_addresses(app: Flask, forwarded_for: list[str], origin: str = HTTPS) -> set[bytes]:
    """Fail a sign-in once per forged X-Forwarded-For, all from the connection 10.0.0.2; the address
    digests the login throttle then holds (referral/auth/throttling.py). `origin`: the site the browser
    names in its Referer (behind a trusted proxy, the forwarded host)."""
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": "10.0.0.2", "wsgi.url_scheme": "https",
                                "HTTP_REFERER": f"{origin}/ingresar"})
    for forged in forwarded_for:
        headers = {**FORWARDED, "X-Forwarded-For": forged}
        page = client.get("/ingresar", headers=headers, base_url=HTTPS)
        answer = client.post("/ingresar", headers=headers, base_url=HTTPS, data={
            **hidden_inputs(page.text), "email": "nadie@example.cl", "password": "not-the-password"})
        assert answer.status_code == 401  # refused for the password (a CSRF error would be 400)
    session = database.factory(app)()
    try:
        return set(session.scalars(select(LoginFailure.address_key)))
    finally:
        session.close()


def address_key(app: Flask, address: str) -> bytes:
    return throttling.keys_for(throttling.derive_secret(app.config["SECRET_KEY"]), "nadie@example.cl", address).address


def test_without_trusted_proxies_the_login_throttle_counts_the_connection_not_the_header(
        production: Flask) -> None:
    assert production.config["TRUSTED_PROXIES"] == 0
    keys = throttled_addresses(production, ["203.0.113.7", "198.51.100.1", "198.51.100.2, 203.0.113.8"])
    assert keys == {address_key(production, "10.0.0.2")}


def test_behind_one_trusted_proxy_the_login_throttle_counts_the_address_it_forwards(
        database_url: str, tmp_path: Path, clock: Any) -> None:
    app = build(database_url, tmp_path / "instance", clock, {**PRODUCTION, "REFERRAL_TRUSTED_PROXIES": "1"})
    try:
        # the client's own X-Forwarded-For entry comes first; the proxy appends the address it saw
        keys = throttled_addresses(app, ["203.0.113.7", "198.51.100.1, 203.0.113.7", "203.0.113.9"],
                                   f"https://{FORWARDED['X-Forwarded-Host']}")
        assert keys == {address_key(app, "203.0.113.7"), address_key(app, "203.0.113.9")}
    finally:
        database.engine(app).dispose()
