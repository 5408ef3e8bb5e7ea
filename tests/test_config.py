"""Configuration fails closed (issue 14, item 6): every value the environment gives is parsed into a
typed setting; a value that is not understood, a REFERRAL_* name that is not a setting, a weak session
secret or plaintext SMTP credentials in production stop start-up with an error naming the variable.
Nothing falls back to development."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from referral.config import KNOWN_VARIABLES, PROJECT_ROOT, StartupError, load_settings, secret_bits

STRONG = secrets.token_urlsafe(48)
PRODUCTION = {"REFERRAL_ENV": "production", "REFERRAL_SECRET_KEY": STRONG}
WEAK_SECRETS = [
    "x",
    "test-secret",
    "a" * 80,  # long, one character
    "0123456789abcdef" * 4,  # 64 hex digits, one block repeated
    secrets.token_hex(32)[:63],  # 252 bits of hex
    secrets.token_urlsafe(48)[:42],  # 252 bits of base64
    "contraseña-larga-del-protocolo",  # a phrase: 30 characters
]

# Each row: the environment an operator typed, and the variable the error must name.
BAD = [
    ({"REFERRAL_ENV": "Production"}, "REFERRAL_ENV"),
    ({"REFERRAL_ENV": "prod"}, "REFERRAL_ENV"),
    ({"REFERRAL_ENV": "production "}, "REFERRAL_ENV"),
    ({"REFERRAL_ENV": "staging"}, "REFERRAL_ENV"),
    ({"REFERRAL_SMTP_SECURITY": "tls"}, "REFERRAL_SMTP_SECURITY"),
    ({"REFERRAL_SMTP_SECURITY": "STARTTLS"}, "REFERRAL_SMTP_SECURITY"),
    ({"REFERRAL_SMTP_SECURITY": "off"}, "REFERRAL_SMTP_SECURITY"),
    ({"REFERRAL_SMTP_PORT": "smtp"}, "REFERRAL_SMTP_PORT"),
    ({"REFERRAL_SMTP_PORT": "0"}, "REFERRAL_SMTP_PORT"),
    ({"REFERRAL_SMTP_PORT": "70000"}, "REFERRAL_SMTP_PORT"),
    ({"REFERRAL_SMTP_TIMEOUT_SECONDS": "0"}, "REFERRAL_SMTP_TIMEOUT_SECONDS"),
    ({"REFERRAL_SMTP_TIMEOUT_SECONDS": "thirty"}, "REFERRAL_SMTP_TIMEOUT_SECONDS"),
    ({"REFERRAL_SWEEP_SECONDS": "-1"}, "REFERRAL_SWEEP_SECONDS"),
    ({"REFERRAL_SWEEP_SECONDS": "1m"}, "REFERRAL_SWEEP_SECONDS"),
    ({"REFERRAL_CLOCK_LEASE_SECONDS": "inf"}, "REFERRAL_CLOCK_LEASE_SECONDS"),
    ({"REFERRAL_SESSION_ABSOLUTE_HOURS": "doce"}, "REFERRAL_SESSION_ABSOLUTE_HOURS"),
    ({"REFERRAL_SESSION_ABSOLUTE_HOURS": "nan"}, "REFERRAL_SESSION_ABSOLUTE_HOURS"),
    ({"REFERRAL_STATS_MIN_CELL": "1"}, "REFERRAL_STATS_MIN_CELL"),
    ({"REFERRAL_STATS_MIN_CELL": "diez"}, "REFERRAL_STATS_MIN_CELL"),
    ({"REFERRAL_STATS_MIN_CELL": "2.5"}, "REFERRAL_STATS_MIN_CELL"),
    ({"REFERRAL_TIMELINE_K": "0"}, "REFERRAL_TIMELINE_K"),
    ({"REFERRAL_RATELIMIT": "of"}, "REFERRAL_RATELIMIT"),
    ({"REFERRAL_RATELIMIT": "false"}, "REFERRAL_RATELIMIT"),
    ({"REFERRAL_LOGIN_LIMIT": "lots"}, "REFERRAL_LOGIN_LIMIT"),
    ({"REFERRAL_AUDIT_QUERY_LIMIT": "120 per fortnight"}, "REFERRAL_AUDIT_QUERY_LIMIT"),
    ({"REFERRAL_TIMEZONE": "America/Punta_Arenas"}, "calendar.time_zone"),  # the workflow's, not a setting
    ({"REFERRAL_WORKFLOW": "../etc"}, "REFERRAL_WORKFLOW"),
    ({"REFERRAL_BASE_URL": "protocolo.example.cl"}, "REFERRAL_BASE_URL"),
    ({"REFERRAL_BASE_URL": "javascript:alert(1)"}, "REFERRAL_BASE_URL"),
    ({"REFERRAL_MAIL_FROM": "protocolo"}, "REFERRAL_MAIL_FROM"),
    ({"REFERRAL_TRUSTED_PROXIES": "-1"}, "REFERRAL_TRUSTED_PROXIES"),
    ({"REFERRAL_TRUSTED_PROXIES": "yes"}, "REFERRAL_TRUSTED_PROXIES"),
    ({"DATABASE_URL": "referral.db"}, "DATABASE_URL"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({"REFERRAL_BROKER_URL": "redis"}, "REFERRAL_BROKER_URL"),
    # a misspelt name would otherwise be ignored, and its setting left at the default
    ({"REFERRAL_SECERT_KEY": STRONG}, "REFERRAL_SECERT_KEY"),
    ({"REFERRAL_ENVIRONMENT": "production"}, "REFERRAL_ENVIRONMENT"),
    ({"REFERRAL_SMTP_SECURTY": "ssl"}, "REFERRAL_SMTP_SECURTY"),
    # production
    ({"REFERRAL_ENV": "production"}, "REFERRAL_SECRET_KEY"),
    *[({**PRODUCTION, "REFERRAL_SECRET_KEY": weak}, "REFERRAL_SECRET_KEY") for weak in WEAK_SECRETS],
    ({**PRODUCTION, "REFERRAL_SMTP_SECURITY": "none", "REFERRAL_SMTP_USERNAME": "avisos"}, "REFERRAL_SMTP_SECURITY"),
    ({**PRODUCTION, "REFERRAL_SMTP_SECURITY": "none", "REFERRAL_SMTP_PASSWORD": "clave"}, "REFERRAL_SMTP_SECURITY"),
]


@pytest.mark.parametrize(("environ", "variable"), BAD)
def test_a_value_that_is_not_understood_stops_start_up_naming_its_variable(
        tmp_path: Path, environ: dict[str, str], variable: str) -> None:
    with pytest.raises(StartupError, match=re.escape(variable)):
        load_settings(tmp_path, environ)


def test_a_misspelt_name_is_answered_with_the_setting_it_resembles(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="did you mean REFERRAL_SECRET_KEY"):
        load_settings(tmp_path, {"REFERRAL_SECERT_KEY": STRONG})


def test_tls_is_refused_with_a_hint_at_the_two_secure_choices(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as caught:
        load_settings(tmp_path, {"REFERRAL_SMTP_SECURITY": "tls"})
    assert "'tls'" in str(caught.value) and "ssl" in str(caught.value) and "starttls" in str(caught.value)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as caught:
        load_settings(tmp_path, {"REFERRAL_ENV": "prod", "REFERRAL_SMTP_PORT": "x", "REFERRAL_TIMELINE_K": "1"})
    assert all(name in str(caught.value) for name in ("REFERRAL_ENV", "REFERRAL_SMTP_PORT", "REFERRAL_TIMELINE_K"))


@pytest.mark.parametrize("environ", [
    {**PRODUCTION, "REFERRAL_SECRET_KEY": "pa55word-of-the-office"},
    {"DATABASE_URL": "postgresql:/referral:pa55word@db"},
    {"REFERRAL_BROKER_URL": "pa55word"},
    {"REFERRAL_SECERT_KEY": "pa55word"},
])
def test_an_error_never_repeats_a_secret_or_a_url(tmp_path: Path, environ: dict[str, str]) -> None:
    with pytest.raises(StartupError) as caught:
        load_settings(tmp_path, environ)
    said = str(caught.value) + repr(caught.value.__cause__) + repr(caught.value.__context__)
    secret = next(value for name, value in environ.items() if name != "REFERRAL_ENV")
    assert secret not in said


def test_production_creates_no_secret_and_needs_the_one_it_is_given(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="REFERRAL_SECRET_KEY"):
        load_settings(tmp_path, {"REFERRAL_ENV": "production"})
    assert not (tmp_path / "secret_key").exists()


def test_a_weak_secret_file_is_refused_in_production_as_the_variable_is(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("dev\n")
    with pytest.raises(StartupError, match="too weak"):
        load_settings(tmp_path, {"REFERRAL_ENV": "production"})


@pytest.mark.parametrize("secret", [
    secrets.token_urlsafe(48), secrets.token_urlsafe(32), secrets.token_hex(32),
    base64.b64encode(secrets.token_bytes(32)).decode(), base64.b32encode(secrets.token_bytes(40)).decode(),
])
def test_a_secret_of_32_random_bytes_in_any_usual_spelling_is_accepted(tmp_path: Path, secret: str) -> None:
    assert secret_bits(secret) >= 256
    assert load_settings(tmp_path, {**PRODUCTION, "REFERRAL_SECRET_KEY": secret})["SECRET_KEY"] == secret


def test_development_creates_its_secret_once(tmp_path: Path) -> None:
    first = load_settings(tmp_path, {})["SECRET_KEY"]
    assert load_settings(tmp_path, {})["SECRET_KEY"] == first
    assert secret_bits(first) >= 256 and (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


DEFAULTS: dict[str, Any] = {
    "REFERRAL_ENV": "development", "CREATE_MISSING_KEYS": True, "MASTER_KEY": None, "PREVIOUS_MASTER_KEYS": None,
    "WORKFLOW": "chile", "WORKFLOWS_DIR": str(PROJECT_ROOT / "workflows"),
    "PASSWORD_PROFILE": "standard",
    "RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_ENABLED": True, "LOGIN_LIMIT": "10 per minute",
    "AUDIT_QUERY_LIMIT": "120 per hour;30 per minute", "SESSION_ABSOLUTE_HOURS": 12.0, "CLOCK_SWEEP_SECONDS": 60.0,
    "CLOCK_LEASE_SECONDS": 300.0, "STATS_MIN_CELL": 10, "TIMELINE_K": 11, "SMTP_HOST": None, "SMTP_PORT": 587,
    "SMTP_SECURITY": "starttls", "SMTP_USERNAME": None, "SMTP_PASSWORD": None, "SMTP_TIMEOUT_SECONDS": 30.0,
    "MAIL_FROM": "protocolo-trata@localhost", "BASE_URL": "http://127.0.0.1:5000", "TRUSTED_PROXIES": 0,
    "SESSION_COOKIE_NAME": "session", "SESSION_COOKIE_SECURE": False, "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax", "PREFERRED_URL_SCHEME": "http", "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
}

PRODUCTION_SETTINGS: dict[str, Any] = {
    "REFERRAL_ENV": "production", "SECRET_KEY": STRONG, "CREATE_MISSING_KEYS": False,
    "SESSION_COOKIE_NAME": "__Host-session", "SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_PATH": "/",
    "SESSION_COOKIE_DOMAIN": None, "REMEMBER_COOKIE_NAME": "__Host-remember_token", "REMEMBER_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_PATH": "/", "REMEMBER_COOKIE_DOMAIN": None, "PREFERRED_URL_SCHEME": "https",
}

# Each row: what an operator set, and the settings it must give (beside the defaults above).
GOOD: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    ({"REFERRAL_ENV": "development"}, {}),
    ({"REFERRAL_SMTP_HOST": ""}, {}),  # empty is unset
    ({"REFERRAL_SMTP_HOST": "smtp.example.cl", "REFERRAL_SMTP_PORT": "465", "REFERRAL_SMTP_SECURITY": "ssl",
      "REFERRAL_SMTP_USERNAME": "avisos", "REFERRAL_SMTP_PASSWORD": "clave", "REFERRAL_SMTP_TIMEOUT_SECONDS": "12.5",
      "REFERRAL_MAIL_FROM": "avisos@example.cl"},
     {"SMTP_HOST": "smtp.example.cl", "SMTP_PORT": 465, "SMTP_SECURITY": "ssl", "SMTP_USERNAME": "avisos",
      "SMTP_PASSWORD": "clave", "SMTP_TIMEOUT_SECONDS": 12.5, "MAIL_FROM": "avisos@example.cl"}),
    ({"REFERRAL_SMTP_SECURITY": "none"}, {"SMTP_SECURITY": "none"}),  # a relay on the same host
    ({"REFERRAL_RATELIMIT": "off"}, {"RATELIMIT_ENABLED": False}),
    ({"REFERRAL_LOGIN_LIMIT": "5 per minute", "REFERRAL_AUDIT_QUERY_LIMIT": "60/hour"},
     {"LOGIN_LIMIT": "5 per minute", "AUDIT_QUERY_LIMIT": "60/hour"}),
    ({"REFERRAL_SESSION_ABSOLUTE_HOURS": "8"}, {"SESSION_ABSOLUTE_HOURS": 8.0}),
    ({"REFERRAL_SWEEP_SECONDS": "0.5", "REFERRAL_CLOCK_LEASE_SECONDS": "5"},
     {"CLOCK_SWEEP_SECONDS": 0.5, "CLOCK_LEASE_SECONDS": 5.0}),
    ({"REFERRAL_STATS_MIN_CELL": "2", "REFERRAL_TIMELINE_K": "25"}, {"STATS_MIN_CELL": 2, "TIMELINE_K": 25}),
    ({"REFERRAL_WORKFLOW": "chile_2027"}, {"WORKFLOW": "chile_2027"}),
    ({"REFERRAL_BASE_URL": "https://protocolo.example.cl/"}, {"BASE_URL": "https://protocolo.example.cl"}),
    ({"REFERRAL_TRUSTED_PROXIES": "1"}, {"TRUSTED_PROXIES": 1}),
    ({"DATABASE_URL": "postgresql://referral@db:5432/referral"},
     {"DATABASE_URL": "postgresql+psycopg://referral@db:5432/referral"}),
    ({"REDIS_URL": "redis://127.0.0.1:6379/0"},
     {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
      "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/0"}),
    ({"REDIS_URL": "redis://r/0", "REFERRAL_BROKER_URL": "redis://b/1", "REFERRAL_RESULT_BACKEND": "cache+memory://"},
     {"RATELIMIT_STORAGE_URI": "redis://r/0", "CELERY_BROKER_URL": "redis://b/1",
      "CELERY_RESULT_BACKEND": "cache+memory://"}),
    ({"REFERRAL_MASTER_KEY": "bWFzdGVy", "REFERRAL_PREVIOUS_MASTER_KEYS": "b2xk,b2xkZXI="},
     {"MASTER_KEY": "bWFzdGVy", "PREVIOUS_MASTER_KEYS": "b2xk,b2xkZXI="}),
    (PRODUCTION, PRODUCTION_SETTINGS),
    ({**PRODUCTION, "REFERRAL_SMTP_SECURITY": "none"}, {**PRODUCTION_SETTINGS, "SMTP_SECURITY": "none"}),
    ({**PRODUCTION, "REFERRAL_SMTP_SECURITY": "starttls", "REFERRAL_SMTP_USERNAME": "avisos",
      "REFERRAL_SMTP_PASSWORD": "clave"}, {**PRODUCTION_SETTINGS, "SMTP_USERNAME": "avisos", "SMTP_PASSWORD": "clave"}),
]


@pytest.mark.parametrize(("environ", "expected"), GOOD)
def test_a_good_value_gives_its_typed_setting(tmp_path: Path, environ: dict[str, str], expected: dict[str, Any]
                                              ) -> None:
    settings = load_settings(tmp_path, environ)
    for key, value in ({**DEFAULTS, **expected}).items():
        assert (settings[key], type(settings[key])) == (value, type(value)), key


def test_the_defaults_place_local_files_in_the_instance_folder(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'referral.db'}"
    assert settings["CELERY_BROKER_URL"] == f"sqla+sqlite:///{tmp_path / 'celery-broker.sqlite'}"
    assert settings["MASTER_KEY_FILE"] == str(tmp_path / "master.key")


def test_every_setting_is_documented_and_every_documented_one_is_read() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration"):readme.index("## Layout")]
    documented = set(re.findall(r"`((?:REFERRAL_)[A-Z_]+|DATABASE_URL|REDIS_URL)`", table))
    assert documented == set(KNOWN_VARIABLES)


def test_a_wrong_value_stops_the_server_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("REFERRAL_")}
    environ |= {"REFERRAL_ENV": "Production", "REFERRAL_INSTANCE_PATH": str(tmp_path)}
    started = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=PROJECT_ROOT, env=environ,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 1
    assert started.stderr.startswith("referral cannot start: REFERRAL_ENV")
    assert "Traceback" not in started.stderr and len(started.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "secret_key").exists()  # it did not go on as development
