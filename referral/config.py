"""Settings from the environment with safe defaults; secrets have no defaults outside instance/.

Development and demo: missing secrets are created once in instance/ (never committed).
Production (REFERRAL_ENV=production): every secret must be given, or start-up stops and says which.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StartupError(Exception):
    """The application cannot start; the message says what to set or fix."""


def _secret_key(environ: Mapping[str, str], instance: Path, create: bool) -> str:
    if environ.get("REFERRAL_SECRET_KEY"):
        return environ["REFERRAL_SECRET_KEY"]
    path = instance / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    if not create:
        raise StartupError("no session secret: set REFERRAL_SECRET_KEY (a long random string)")
    instance.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def _hours(environ: Mapping[str, str], name: str, default: str) -> float:
    """A positive number of hours, or start-up stops and names the variable."""
    text = environ.get(name, default)
    try:
        hours = float(text)
    except ValueError:
        hours = float("nan")
    if not 0 < hours <= 24 * 7:
        raise StartupError(f"{name} must be a number of hours above 0 and at most 168, not {text!r}")
    return hours


def load_settings(instance: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask settings from the environment; create development secrets in `instance` if allowed."""
    environ = os.environ if environ is None else environ
    production = environ.get("REFERRAL_ENV", "development") == "production"
    database = environ.get("DATABASE_URL") or f"sqlite:///{instance / 'referral.db'}"
    if database.startswith("postgresql://"):
        database = "postgresql+psycopg://" + database.removeprefix("postgresql://")
    redis = environ.get("REDIS_URL")
    return {
        "REFERRAL_ENV": "production" if production else "development",
        "SECRET_KEY": _secret_key(environ, instance, create=not production),
        "DATABASE_URL": database,
        "MASTER_KEY": environ.get("REFERRAL_MASTER_KEY"),
        "MASTER_KEY_FILE": str(instance / "master.key"),
        # Earlier master keys, kept only until `flask keys rotate-master` has re-wrapped what they protect.
        "PREVIOUS_MASTER_KEYS": environ.get("REFERRAL_PREVIOUS_MASTER_KEYS"),
        "PREVIOUS_MASTER_KEYS_FILE": str(instance / "previous-master-keys"),
        "CREATE_MISSING_KEYS": not production,
        "WORKFLOW": environ.get("REFERRAL_WORKFLOW", "chile"),
        "WORKFLOWS_DIR": environ.get("REFERRAL_WORKFLOWS_DIR", str(PROJECT_ROOT / "workflows")),
        "TIMEZONE": environ.get("REFERRAL_TIMEZONE", "America/Santiago"),
        "PASSWORD_PROFILE": "standard",
        "RATELIMIT_STORAGE_URI": environ.get("REDIS_URL") or "memory://",
        "RATELIMIT_ENABLED": environ.get("REFERRAL_RATELIMIT", "on") != "off",
        "LOGIN_LIMIT": environ.get("REFERRAL_LOGIN_LIMIT", "10 per minute"),
        # per auditor, over the statistics pages together; a burst beyond it is answered 429 and logged
        "AUDIT_QUERY_LIMIT": environ.get("REFERRAL_AUDIT_QUERY_LIMIT", "120 per hour;30 per minute"),
        "BABEL_DEFAULT_LOCALE": "es",
        "BABEL_DEFAULT_TIMEZONE": environ.get("REFERRAL_TIMEZONE", "America/Santiago"),
        # A long Ficha typed at night must not be lost to an expired token: the CSRF token lives
        # as long as the session, and the session ends after two idle hours.
        "WTF_CSRF_TIME_LIMIT": None,
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2),
        # Beside the idle timeout above, a session ends this many hours after sign-in, however active
        # (server-side sessions: referral/auth/sessions.py).
        "SESSION_ABSOLUTE_HOURS": _hours(environ, "REFERRAL_SESSION_ABSOLUTE_HOURS", "12"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # Celery runs the clocks. Redis is broker and result store when REDIS_URL is set; otherwise a
        # broker inside a SQLite file in instance/ (kombu's SQLAlchemy transport): no server needed.
        # (Not CELERY_BROKER_URL in the environment: Celery itself would read that one and bypass these.)
        "CELERY_BROKER_URL": environ.get("REFERRAL_BROKER_URL") or redis
        or f"sqla+sqlite:///{instance / 'celery-broker.sqlite'}",
        "CELERY_RESULT_BACKEND": environ.get("REFERRAL_RESULT_BACKEND") or redis
        or f"db+sqlite:///{instance / 'celery-results.sqlite'}",
        "CELERY_BEAT_SCHEDULE_FILE": str(instance / "celerybeat-schedule"),
        "CLOCK_SWEEP_SECONDS": float(environ.get("REFERRAL_SWEEP_SECONDS", "60")),
        # A clock handed to a worker is handed out again if no worker finished it within the lease
        # (the worker died, the broker lost the message); the Redis visibility timeout matches it.
        "CLOCK_LEASE_SECONDS": float(environ.get("REFERRAL_CLOCK_LEASE_SECONDS", "300")),
        # E-mail for reminders and escalations: off unless an SMTP host is given. Messages carry only
        # the case reference and a link (BASE_URL + the case page), never personal data.
        # auditors' figures: perturbed counts below this are shown as «<10» (docs/audit.md)
        "STATS_MIN_CELL": max(2, int(environ.get("REFERRAL_STATS_MIN_CELL", "10"))),
        # auditors' timelines: every shown combination of quasi-identifiers is shared by this many cases
        "TIMELINE_K": max(2, int(environ.get("REFERRAL_TIMELINE_K", "11"))),
        "SMTP_HOST": environ.get("REFERRAL_SMTP_HOST") or None,
        "SMTP_PORT": int(environ.get("REFERRAL_SMTP_PORT", "587")),
        "SMTP_SECURITY": environ.get("REFERRAL_SMTP_SECURITY", "starttls"),  # starttls | ssl | none
        "SMTP_USERNAME": environ.get("REFERRAL_SMTP_USERNAME") or None,
        "SMTP_PASSWORD": environ.get("REFERRAL_SMTP_PASSWORD") or None,
        "SMTP_TIMEOUT_SECONDS": float(environ.get("REFERRAL_SMTP_TIMEOUT_SECONDS", "30")),
        "MAIL_FROM": environ.get("REFERRAL_MAIL_FROM", "protocolo-trata@localhost"),
        "BASE_URL": environ.get("REFERRAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
    }
