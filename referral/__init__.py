"""Protocolo Intersectorial de Atención a Víctimas de Trata de Personas: the web application."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import PROJECT_ROOT, StartupError, load_settings
from .blobs import LocalFolderStore
from .context import Protocol
from .country import load_country
from .db import utcnow
from .extensions import babel, csrf, database, login_manager
from .i18n import compile_catalogs, install_template_gettext
from .queue import celery_init_app
from .vault import MasterKeyMissing, Vault, load_master_keyring
from .web.uploads import UploadRequest
from .workflow import DefinitionError, load_definition

__all__ = ["StartupError", "create_app"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; raise StartupError with a clear message if it cannot run."""
    app = Flask(__name__, instance_relative_config=True, template_folder=str(PROJECT_ROOT / "templates"))
    app.request_class = UploadRequest  # uploads spooled encrypted; a large body on the upload page only
    if test_config and "INSTANCE_PATH" in test_config:
        app.instance_path = str(test_config["INSTANCE_PATH"])
    elif os.environ.get("REFERRAL_INSTANCE_PATH"):  # local config, database and keys kept elsewhere
        app.instance_path = os.environ["REFERRAL_INSTANCE_PATH"]
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_settings(instance))
    app.config["CLOCK"] = utcnow
    if test_config:
        app.config.from_mapping(test_config)
    _trust_proxies(app)
    _init_protocol(app)
    _init_vault(app)
    app.extensions["referral.blobs"] = LocalFolderStore(app.config["ATTACHMENTS_DIR"])
    _init_web(app, instance)
    celery_init_app(app)
    _check_stored_keys(app)
    return app


# `flask` commands that must run whatever the database holds: the schema, the check and the migration
# themselves, the demo (which recreates its data) and the audit log's verification. Others act on cases.
RUN_ANYWAY = frozenset({"db", "workflow", "demo", "audit"})


def _check_stored_keys(app: Flask) -> None:
    """Refuse to start when the database holds states, tracks, forms, clocks (...) the loaded definition lacks,
    or cases of another definition version (referral/definition_check.py). Not for a database without tables
    yet, nor for the commands of RUN_ANYWAY; DEFINITION_CHECK = False turns it off (tests/test_definition_check.py
    proves it is on by default)."""
    if not app.config.get("DEFINITION_CHECK", True) or _cli_runs_anyway(sys.argv[1:]):
        return
    from sqlalchemy.exc import DBAPIError

    from .definition_check import startup_message, stored_key_problems

    definition = app.extensions["referral.protocol"].definition
    try:
        with database.factory(app)() as session:
            problems = stored_key_problems(session, definition)
    except DBAPIError as error:  # no database yet, or not reachable: the first request says so, as before
        app.logger.warning("the stored workflow keys were not checked: %s", type(error).__name__)
        return
    finally:
        # No connection opened while the app is built may stay in the pool: a Celery prefork worker (or a
        # gunicorn master) forks after create_app, and two processes on one connection corrupt each other's
        # results. And when the app is refused, the caller gets no app that could close them.
        database.engine(app).dispose()
    if problems:
        raise StartupError(startup_message(problems, definition))


def _cli_runs_anyway(argv: Sequence[str]) -> bool:
    """Under the `flask` command line: whether it runs a command of RUN_ANYWAY (or only lists commands)."""
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return False
    words, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--app", "-A", "--env-file", "-e"):
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return not words or words[0] in RUN_ANYWAY


def _trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, the client's address, scheme and host are the ones they
    forward; with none, X-Forwarded-* headers are ignored (anyone can send them)."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def _init_protocol(app: Flask) -> None:
    folder = Path(app.config["WORKFLOWS_DIR"]) / app.config["WORKFLOW"]
    try:
        definition = load_definition(folder)
    except DefinitionError as error:
        raise StartupError(f"the workflow definition cannot be used: {error}") from error
    try:
        country = load_country(folder)
    except DefinitionError as error:
        raise StartupError(f"the country file cannot be used: {error}") from error
    app.extensions["referral.protocol"] = Protocol.of(definition, country)
    # The protocol's time zone (workflows/<country>: calendar.time_zone), for pages, dates and deadlines.
    app.extensions["referral.timezone"] = ZoneInfo(definition.calendar.time_zone)
    app.config["BABEL_DEFAULT_TIMEZONE"] = definition.calendar.time_zone


def _init_vault(app: Flask) -> None:
    try:
        masters = load_master_keyring(
            app.config["MASTER_KEY"], Path(app.config["MASTER_KEY_FILE"]), app.config.get("PREVIOUS_MASTER_KEYS"),
            Path(app.config.get("PREVIOUS_MASTER_KEYS_FILE") or Path(app.instance_path) / "previous-master-keys"),
            create=app.config["CREATE_MISSING_KEYS"])
    except MasterKeyMissing as error:
        raise StartupError(str(error)) from error
    app.extensions["referral.vault"] = Vault(masters)


def _init_web(app: Flask, instance: Path) -> None:
    from . import cli
    from .admin.views import bp as admin_bp
    from .auth.views import bp as auth_bp
    from .auth.views import load_signed_in
    from .cases.views import bp as cases_bp
    from .cases.note_views import bp as notes_bp
    from .cases.attachment_views import bp as attachments_bp
    from .cases.meeting_views import bp as meetings_bp
    from .clocks.views import bp as clocks_bp
    from .main.views import bp as main_bp
    from .mesa.views import bp as mesa_bp
    from .network.views import bp as network_bp
    from .referrals.views import bp as referrals_bp
    from .stats.views import bp as stats_bp
    from .plan.views import bp as plan_bp
    from .web import access, errors, input as input_check, limits, nav
    from .web.context import language
    from .cases import worklists

    database.init_app(app)
    # The worklists' rows are computed before each commit from the workflow this app runs (cases/worklists.py).
    database.factory(app).configure(info={worklists.DEFINITION: lambda: app.extensions["referral.protocol"].definition})
    input_check.init_app(app)  # first: no CSRF check, rate limit or view sees a control character
    csrf.init_app(app)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogs(instance / "translations"))
    babel.init_app(app, locale_selector=language, timezone_selector=lambda: app.config["BABEL_DEFAULT_TIMEZONE"])
    install_template_gettext(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # our own page says why; no flashed English default

    # The session cookie names a server-side session (referral/auth/sessions.py), never the account.
    login_manager.user_loader(load_signed_in)

    for blueprint in (auth_bp, main_bp, cases_bp, clocks_bp, admin_bp, referrals_bp, network_bp, stats_bp,
                      notes_bp, attachments_bp, meetings_bp, plan_bp, mesa_bp):
        app.register_blueprint(blueprint)
    limits.init_app(app)
    app.before_request(access.enforce)
    app.context_processor(nav.template_globals)
    app.after_request(_security_headers)
    errors.register(app)
    cli.register(app)


# The application uses no camera, microphone, location, payment or device API: none may be asked for.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "autoplay", "bluetooth", "camera", "display-capture", "geolocation", "gyroscope", "hid",
    "idle-detection", "magnetometer", "microphone", "midi", "payment", "screen-wake-lock", "serial", "usb",
    "xr-spatial-tracking"))
HSTS = "max-age=63072000; includeSubDomains"  # two years; production only (development runs on http)


def _security_headers(response: Response) -> Response:
    """No caching of anything personal, no framing, no scripts or styles from elsewhere, no device APIs;
    in production, HTTPS only."""
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Same-origin, not no-referrer: over HTTPS Flask-WTF refuses a POST whose Referer is missing or names
    # another host (WTF_CSRF_SSL_STRICT); no address of ours is sent anywhere else.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if current_app.config["REFERRAL_ENV"] == "production":
        response.headers["Strict-Transport-Security"] = HSTS
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
