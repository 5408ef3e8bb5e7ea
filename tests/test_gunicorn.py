"""The production web server (issue 17, item 7): real gunicorn started with the repository's
gunicorn.conf.py, as the README's production section starts it, serves the sign-in page from a SQLite
database; its access log carries no query string; a forged X-Forwarded-For changes nothing of what the
login throttle counts when no proxy is trusted."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, select

from referral.auth.models import LoginFailure

from .browser import hidden_inputs
from .conftest import MASTER_KEY

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90  # a busy 2-core machine: the workers import the whole application


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: str | None = None) -> tuple[int, str, list[str]]:
    """(status, body, Set-Cookie headers) of one request over a real connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace"), response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()


def get(port: int, path: str) -> int:
    return request(port, "GET", path)[0]


@pytest.fixture
def served(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """gunicorn -c gunicorn.conf.py wsgi:app on a free port; (port, access log file, database file)."""
    database = tmp_path / "app.db"
    shutil.copy(sqlite_template, database)
    port = free_port()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("REFERRAL_", "WEB_", "GUNICORN_")) and key not in ("DATABASE_URL", "REDIS_URL")}
    environment.update({
        "DATABASE_URL": f"sqlite:///{database}", "REFERRAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "REFERRAL_MASTER_KEY": MASTER_KEY, "REFERRAL_SECRET_KEY": "gunicorn-test-secret",
        "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1",
    })
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                  cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"gunicorn exited {server.returncode}: {log.read_text(errors='replace')[-3000:]}")
            try:
                get(port, "/ingresar")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not answer in {START_TIMEOUT_S} s: {log.read_text(errors='replace')}")
                time.sleep(0.2)
        yield port, log, database
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_gunicorn_serves_the_sign_in_page_and_logs_no_query_string(served: tuple[int, Path, Path]) -> None:
    port, log, _ = served
    assert get(port, "/ingresar") == 200
    assert get(port, "/ingresar?next=/casos/QUERY-MARKER") == 200
    time.sleep(0.5)  # the access log line is written after the answer
    text = log.read_text(errors="replace")
    access = [line for line in text.splitlines() if '"GET ' in line]
    assert len(access) >= 3 and all('"GET /ingresar HTTP/1.1" 200' in line for line in access)
    assert "QUERY-MARKER" not in text and not any("?" in line for line in access)


def test_behind_gunicorn_a_forged_forwarded_for_does_not_escape_the_login_throttle(
        served: tuple[int, Path, Path]) -> None:
    """No proxy is trusted (REFERRAL_TRUSTED_PROXIES unset): each failed sign-in claims another address
    in X-Forwarded-For, yet the throttle counts all three against the one connection they came from."""
    port, _, database = served
    for n in range(3):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        status, page, cookies = request(port, "GET", "/ingresar", forged)
        assert status == 200
        cookie = "; ".join(header.split(";")[0] for header in cookies)
        form = urlencode({**hidden_inputs(page), "email": "nadie@example.cl", "password": "not-the-password"})
        status, _, _ = request(port, "POST", "/ingresar", {
            **forged, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form)
        assert status == 401  # refused for the password (a missing CSRF token would be 400)
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(LoginFailure.address_key, LoginFailure.failures)).all()
    finally:
        engine.dispose()
    assert len(rows) == 1 and rows[0].failures == 3
