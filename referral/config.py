"""Settings from the environment, parsed into a typed model that fails closed; secrets have no defaults
outside instance/.

Every REFERRAL_* variable (and DATABASE_URL, REDIS_URL) is read by `EnvironmentSettings`
(pydantic-settings): a value it does not accept, or a REFERRAL_* name it does not know, stops start-up
with a StartupError that names the variable. Nothing falls back to development.

Development and demo: missing secrets are created once in instance/ (never committed).
Production (REFERRAL_ENV=production): every secret must be given, the session secret must hold at
least 256 bits, e-mail credentials never travel in plaintext; or start-up stops and says what to set.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import limits
from pydantic import AliasGenerator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "REFERRAL_"
SECRET_BITS = 256  # a session secret in production: at least this much randomness (docs/security.md)
MAKE_A_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


class StartupError(Exception):
    """The application cannot start; the message says what to set or fix."""


# -- the typed environment --------------------------------------------------------------------------

_given: ContextVar[Mapping[str, str]] = ContextVar("referral_environment", default=os.environ)


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source over the mapping load_settings was given (os.environ, or a
    test's dict), so that tests never touch the process environment."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value for name, value in _given.get().items() if value or not self.env_ignore_empty}


def _variable_of(field: str) -> str:
    return PREFIX + field.upper()


class EnvironmentSettings(BaseSettings):
    """What the environment may say. Each field is read from exactly one variable, spelt exactly:
    REFERRAL_<FIELD>, or the variable its alias names (DATABASE_URL, REDIS_URL)."""

    model_config = SettingsConfigDict(alias_generator=AliasGenerator(validation_alias=_variable_of),
                                      case_sensitive=True, env_ignore_empty=True, frozen=True, extra="ignore")

    env: Literal["development", "production"] = "development"
    instance_path: str | None = None  # read by create_app before anything else
    secret_key: SecretStr | None = None
    master_key: SecretStr | None = None
    previous_master_keys: SecretStr | None = None
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    broker_url: str | None = None
    result_backend: str | None = None
    workflow: str = Field("chile", pattern=r"^[A-Za-z0-9_-]+$")
    workflows_dir: str = str(PROJECT_ROOT / "workflows")
    ratelimit: Literal["on", "off"] = "on"
    login_limit: str = "10 per minute"
    audit_query_limit: str = "120 per hour;30 per minute"
    session_absolute_hours: float = Field(12, gt=0, le=24 * 7, allow_inf_nan=False)
    reauth_minutes: float = Field(10, gt=0, le=24 * 60, allow_inf_nan=False)
    sweep_seconds: float = Field(60, gt=0, le=3600, allow_inf_nan=False)
    clock_lease_seconds: float = Field(300, gt=0, le=24 * 3600, allow_inf_nan=False)
    stats_min_cell: int = Field(10, ge=2, le=1000)
    timeline_k: int = Field(11, ge=2, le=1000)
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(30, gt=0, le=3600, allow_inf_nan=False)
    mail_from: str = Field("protocolo-trata@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    base_url: str = "http://127.0.0.1:5000"
    trusted_proxies: int = Field(0, ge=0, le=10)  # reverse proxies in front of the app (ProxyFix hops)
    attachments_dir: str | None = None  # where sealed case documents are kept (default instance/attachments)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], *args: Any, **kwargs: Any
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_GivenEnvironment(settings_cls),)  # no .env files, no secrets dir: the given environment only

    @property
    def production(self) -> bool:
        return self.env == "production"

    @field_validator("login_limit", "audit_query_limit")
    @classmethod
    def _rate_limit(cls, text: str) -> str:
        try:
            limits.parse_many(text)
        except ValueError:
            raise ValueError("not a rate limit (e.g. '10 per minute', or '120 per hour;30 per minute')") from None
        return text

    @field_validator("database_url", "redis_url", "broker_url", "result_backend")
    @classmethod
    def _url(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                make_url(text)
            except ArgumentError:
                raise ValueError("not a URL (scheme://…)") from None
        return text

    @field_validator("base_url")
    @classmethod
    def _web_address(cls, text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// address (e.g. https://protocolo.example.cl)")
        return text.rstrip("/")

    @model_validator(mode="after")
    def _no_plaintext_credentials(self) -> EnvironmentSettings:
        if self.production and self.smtp_security == "none" and (self.smtp_username or self.smtp_password):
            raise ValueError(f"{PREFIX}SMTP_SECURITY=none would send the SMTP user name and password in plaintext: "
                             "use starttls or ssl in production")
        return self


# What a start-up error may repeat of a refused value: never a secret, never a URL (it may hold a password).
ECHOED = {"env", "workflow", "ratelimit", "login_limit", "audit_query_limit", "session_absolute_hours", "reauth_minutes",
          "sweep_seconds", "clock_lease_seconds", "stats_min_cell", "timeline_k", "smtp_port", "smtp_security",
          "smtp_timeout_seconds", "mail_from", "base_url", "trusted_proxies"}
HINTS = {"smtp_security": "ssl is TLS from the first byte (usually port 465); starttls upgrades a plain "
                          "connection (usually port 587)",
         "env": "in lowercase; anything else would have run as development"}


def variable(field: str) -> str:
    """The environment variable a field of EnvironmentSettings is read from."""
    return str(EnvironmentSettings.model_fields[field].validation_alias)


KNOWN_VARIABLES = frozenset(variable(field) for field in EnvironmentSettings.model_fields)
# Settings that left the environment, and where they went.
MOVED = {PREFIX + "TIMEZONE": "the time zone is the workflow's calendar.time_zone (workflows/<country>, docs/countries.md)"}


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a rule across variables: its message names them
        return message
    field = next((name for name in EnvironmentSettings.model_fields if variable(name) == error["loc"][0]), "")
    said = f" (not {error['input']!r})" if field in ECHOED and isinstance(error.get("input"), str) else ""
    hint = f"; {HINTS[field]}" if field in HINTS else ""
    return f"{error['loc'][0]}: {message}{said}{hint}"


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    problems = []
    for name in sorted(key for key in environ if key.startswith(PREFIX) and key not in KNOWN_VARIABLES):
        if name in MOVED:
            problems.append(f"{name} is no longer a setting: {MOVED[name]}")
            continue
        close = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1)
        problems.append(f"{name} is not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def parse_environment(environ: Mapping[str, str]) -> EnvironmentSettings:
    """The environment as typed settings, or a StartupError naming every variable that is wrong."""
    problems = _unknown_variables(environ)
    token = _given.set(environ)
    try:
        parsed: EnvironmentSettings | None = EnvironmentSettings()
    except ValidationError as error:  # not chained below: its text would repeat every refused value
        parsed = None
        problems += [_problem(item) for item in error.errors(include_url=False)]
    finally:
        _given.reset(token)
    if problems or parsed is None:
        raise StartupError("; ".join(problems))
    return parsed


# -- the session secret -----------------------------------------------------------------------------

ALPHABETS = ("0123456789", "0123456789abcdef", "0123456789ABCDEF", "0123456789abcdefghijklmnopqrstuvwxyz",
             "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
             "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_=",
             "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/=")


def secret_bits(secret: str) -> float:
    """At most how many random bits a secret can hold: its length times the bits of the smallest usual
    alphabet (decimal, hex, base36, alphanumeric, base64) its characters fit in; 0 for a repeated pattern."""
    if len(secret) < 2 or secret in (secret + secret)[1:-1]:  # "xxxx", "abcabc": one short block repeated
        return 0.0
    sizes = [len(alphabet) for alphabet in ALPHABETS if set(secret) <= set(alphabet)]
    size = min(sizes) if sizes else 95  # any other printable characters
    return len(secret) * math.log2(size)


def _secret_key(settings: EnvironmentSettings, instance: Path) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = instance / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    if settings.production:
        raise StartupError(f"no session secret: set {PREFIX}SECRET_KEY, made with {MAKE_A_SECRET}")
    instance.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def _checked_secret_key(settings: EnvironmentSettings, instance: Path) -> str:
    secret = _secret_key(settings, instance)
    if settings.production and secret_bits(secret) < SECRET_BITS:
        raise StartupError(f"the session secret ({PREFIX}SECRET_KEY, or instance/secret_key) is too weak for "
                           f"production: it must hold {SECRET_BITS} random bits "
                           "(at least 43 base64 characters, or 64 hex digits, not a repeated pattern); make one "
                           f"with {MAKE_A_SECRET}")
    return secret


# -- Flask settings -----------------------------------------------------------------------------------


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _cookies(production: bool) -> dict[str, Any]:
    """In production, `__Host-` cookies: the browser keeps them only if Secure, for Path=/ and no Domain."""
    prefix = "__Host-" if production else ""
    return {
        "SESSION_COOKIE_NAME": f"{prefix}session",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        # Flask-Login's remember-me cookie: not used today (login_user without remember), held to the same rule.
        "REMEMBER_COOKIE_NAME": f"{prefix}remember_token",
        "REMEMBER_COOKIE_PATH": "/",
        "REMEMBER_COOKIE_DOMAIN": None,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
    }


def _database(settings: EnvironmentSettings, instance: Path) -> str:
    database = settings.database_url or f"sqlite:///{instance / 'referral.db'}"
    if database.startswith("postgresql://"):
        database = "postgresql+psycopg://" + database.removeprefix("postgresql://")
    return database


def load_settings(instance: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask settings from the environment; create development secrets in `instance` if allowed."""
    settings = parse_environment(os.environ if environ is None else environ)
    production, redis = settings.production, settings.redis_url
    return {
        "REFERRAL_ENV": settings.env,
        "SECRET_KEY": _checked_secret_key(settings, instance),
        "DATABASE_URL": _database(settings, instance),
        "MASTER_KEY": _reveal(settings.master_key),
        "MASTER_KEY_FILE": str(instance / "master.key"),
        # Earlier master keys, kept only until `flask keys rotate-master` has re-wrapped what they protect.
        "PREVIOUS_MASTER_KEYS": _reveal(settings.previous_master_keys),
        "PREVIOUS_MASTER_KEYS_FILE": str(instance / "previous-master-keys"),
        "CREATE_MISSING_KEYS": not production,
        "WORKFLOW": settings.workflow,
        "WORKFLOWS_DIR": settings.workflows_dir,
        "PASSWORD_PROFILE": "standard",
        "RATELIMIT_STORAGE_URI": redis or "memory://",
        "RATELIMIT_ENABLED": settings.ratelimit == "on",
        "LOGIN_LIMIT": settings.login_limit,
        # per auditor, over the statistics pages together; a burst beyond it is answered 429 and logged
        "AUDIT_QUERY_LIMIT": settings.audit_query_limit,
        "BABEL_DEFAULT_LOCALE": "es",
        # A long Ficha typed at night must not be lost to an expired token: the CSRF token lives
        # as long as the session, and the session ends after two idle hours.
        "WTF_CSRF_TIME_LIMIT": None,
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2),
        # Beside the idle timeout above, a session ends this many hours after sign-in, however active
        # (server-side sessions: referral/auth/sessions.py).
        "SESSION_ABSOLUTE_HOURS": settings.session_absolute_hours,
        # sensitive steps (erasure, emergency access, exports, account grants) ask for the password and the
        # second factor again when the session's last proof is older than this (referral/auth/fresh.py)
        "REAUTH_MINUTES": settings.reauth_minutes,
        **_cookies(production),
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # How many reverse proxies stand in front of the app: their X-Forwarded-* headers are believed
        # (ProxyFix, in create_app); with 0 they are ignored, so nobody can claim another address.
        "TRUSTED_PROXIES": settings.trusted_proxies,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,  # the upload page alone takes more (referral/web/uploads.py)
        # Sealed case documents (ciphertext only, random names): a folder, behind referral/blobs.py's interface.
        "ATTACHMENTS_DIR": settings.attachments_dir or str(instance / "attachments"),
        # Celery runs the clocks. Redis is broker and result store when REDIS_URL is set; otherwise a
        # broker inside a SQLite file in instance/ (kombu's SQLAlchemy transport): no server needed.
        # (Not CELERY_BROKER_URL in the environment: Celery itself would read that one and bypass these.)
        "CELERY_BROKER_URL": settings.broker_url or redis or f"sqla+sqlite:///{instance / 'celery-broker.sqlite'}",
        "CELERY_RESULT_BACKEND": settings.result_backend or redis
        or f"db+sqlite:///{instance / 'celery-results.sqlite'}",
        "CELERY_BEAT_SCHEDULE_FILE": str(instance / "celerybeat-schedule"),
        "CLOCK_SWEEP_SECONDS": settings.sweep_seconds,
        # A clock handed to a worker is handed out again if no worker finished it within the lease
        # (the worker died, the broker lost the message); the Redis visibility timeout matches it.
        "CLOCK_LEASE_SECONDS": settings.clock_lease_seconds,
        # auditors' figures: perturbed counts below this are shown as «<10» (docs/audit.md)
        "STATS_MIN_CELL": settings.stats_min_cell,
        # auditors' timelines: every shown combination of quasi-identifiers is shared by this many cases
        "TIMELINE_K": settings.timeline_k,
        # E-mail for reminders and escalations: off unless an SMTP host is given. Messages carry only
        # the case reference and a link (BASE_URL + the case page), never personal data.
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": settings.smtp_port,
        "SMTP_SECURITY": settings.smtp_security,
        "SMTP_USERNAME": settings.smtp_username,
        "SMTP_PASSWORD": _reveal(settings.smtp_password),
        "SMTP_TIMEOUT_SECONDS": settings.smtp_timeout_seconds,
        "MAIL_FROM": settings.mail_from,
        "BASE_URL": settings.base_url,
    }
