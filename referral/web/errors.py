"""Error pages: a clear message, never a stack trace, never personal data.

Every handler first rolls the request's session back (`database.rollback()`): an exception raised at
flush leaves the session unusable, and the page still reads the user (language, menu). Conflicts —
a case changed by someone else (`StaleCase`, before or at flush), a row changed or inserted by a
concurrent request (`StaleDataError`, `IntegrityError`), a PostgreSQL serialisation failure or
deadlock — all end here as 409, with the form as typed when the view registered it
(`on_conflict`), else with what was typed and a link back to the case. Every 403 is audited
(`access.denied`, coalesced: see `_audit_refusal`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, flash, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from limits import RateLimitItemPerMinute
from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, StaleCase
from ..characters import CONTROL, SPOOFING
from ..extensions import database
from ..workflow import Text, TransitionRefused
from .context import language
from .input import InvalidCharacters

log = logging.getLogger(__name__)

# SQLSTATEs of a transaction PostgreSQL aborted because another one ran at the same time.
CONCURRENT_SQLSTATES = ("40001", "40P01")  # serialization_failure, deadlock_detected
NOT_SHOWN = ("csrf_token", "case_version", "intake_token")
CONFLICT_PAGE = "referral_conflict_page"
DENIED_WINDOW = RateLimitItemPerMinute(1)  # access.denied: one event per person, endpoint and minute

CASE_CHANGED_WHY = Text(
    "El caso cambió desde que abrió la página: otra persona lo modificó antes (o el botón se presionó dos "
    "veces). No se aplicó nada. Vuelva a cargar el caso y revise su estado actual antes de intentarlo de "
    "nuevo; lo escrito se conserva en esta página.",
    "The case changed since you opened the page: someone else changed it first (or the button was pressed "
    "twice). Nothing was applied. Reload the case and check its current state before trying again; what you "
    "typed is kept on this page.")
DATA_CHANGED = Text("Los datos cambiaron", "The data changed")
DATA_CHANGED_WHY = Text(
    "Otra persona modificó estos datos al mismo tiempo. No se guardó nada. Vuelva a cargar la página y revise "
    "los datos actuales antes de intentarlo de nuevo; lo escrito se conserva en esta página.",
    "Someone else changed this data at the same time. Nothing was saved. Reload the page and check the "
    "current data before trying again; what you typed is kept on this page.")
INVALID_VALUE = Text("Un valor enviado no es válido (por ejemplo, un número demasiado grande). No se guardó nada.",
                     "A value sent is not valid (for example, a number too large). Nothing was saved.")
BAD_CHARACTER = Text("Carácter no permitido", "Character not allowed")
LABELS = {
    "back": Text("Volver al caso", "Back to the case"),
    "typed": Text("Lo que escribió (cópielo antes de salir de esta página)",
                  "What you typed (copy it before leaving this page)"),
}


def on_conflict(render: Callable[[int], Any]) -> None:
    """Let a view re-render its form (as typed, with `status`) if its write ends in a conflict."""
    setattr(g, CONFLICT_PAGE, render)


def _lang() -> str:
    try:
        return language()
    except SQLAlchemyError:  # the database itself failed: the page is still shown, in Spanish
        return "es"


def _page(status: int, title: str, message: str, **extra: Any) -> tuple[str, int]:
    labels = {key: text.get(_lang()) for key, text in LABELS.items()}
    return render_template("error.html", status=status, title=title, message=message, labels=labels,
                           **extra), status


def _typed() -> list[tuple[str, str]]:
    """What the person typed in the form, to copy from the error page (never a password or token)."""
    if request.method != "POST":
        return []
    typed = []
    for key, values in request.form.lists():
        if key in NOT_SHOWN or "password" in key or "token" in key:
            continue
        for value in values:
            if value.strip():
                shown_key = key if not (CONTROL.search(key) or SPOOFING.search(key)) else "?"
                typed.append((shown_key, SPOOFING.sub("\ufffd", CONTROL.sub("\ufffd", value))))
    return typed


def _case_link() -> str | None:
    reference = (request.view_args or {}).get("reference")
    if not isinstance(reference, str) or CONTROL.search(reference) or SPOOFING.search(reference):
        return None
    return url_for("cases.show", reference=reference)


def _is_conflict(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) in CONCURRENT_SQLSTATES


def _audit_refusal(response: Response) -> Response:
    """after_request: every 403, whoever produced it (the access rule, a service's refusal, a view), is an
    `access.denied` audit event — the endpoint's name, the method, the person's role and node, and the
    case's pseudonym when the URL names a case; never the URL or its parameters. In its own unit of work
    (the request's session is rolled back first: a 403 carries nothing to keep), and at most once per
    person (or address), endpoint and `DENIED_WINDOW`, so that refusals cannot flood the log."""
    if response.status_code != 403:
        return response
    try:
        database.rollback()
        if _first_in_window():
            _record_denied()
    except Exception as error:  # noqa: BLE001 - the 403 page is still shown; the failure is logged by type only
        log.warning("access.denied not recorded: %s", type(error).__name__)
    return response


def _first_in_window() -> bool:
    limiter = current_app.extensions.get("referral.limiter")
    if limiter is None or not limiter.enabled:  # rate limits off (REFERRAL_RATELIMIT=off): every refusal
        return True
    who = f"user:{current_user.get_id()}" if current_user.is_authenticated else (request.remote_addr or "unknown")
    try:
        return bool(limiter.limiter.hit(DENIED_WINDOW, "access.denied", who, request.endpoint or "-"))
    except Exception as error:  # noqa: BLE001 - the limiter's storage (Redis) is down: record rather than lose it
        log.warning("access.denied not coalesced: %s", type(error).__name__)
        return True


def _record_denied() -> None:
    from ..audit.service import record
    from ..kernel.models import Case
    from ..units import unit_of_work

    signed_in = current_user.is_authenticated
    reference = (request.view_args or {}).get("reference")
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference)) \
            if isinstance(reference, str) and len(reference) <= 40 and not CONTROL.search(reference) else None
        record(ctx, "access.denied", role=current_user.role if signed_in else None,
               node_id=current_user.node_id if signed_in else None, case_id=case_id,
               details={"endpoint": request.endpoint or "-", "method": request.method})
        ctx.session.commit()


def register(app: Flask) -> None:  # noqa: C901 - one handler per kind of failure, read top to bottom
    app.after_request(_audit_refusal)

    @app.errorhandler(CaseNotFound)
    def case_not_found(error: CaseNotFound) -> tuple[str, int]:
        database.rollback()
        return _page(404, _("No encontrado"), error.message.get(_lang()))

    @app.errorhandler(AccessDenied)
    def access_denied(error: AccessDenied) -> tuple[str, int]:
        database.rollback()
        return _page(403, _("Sin acceso"), error.message.get(_lang()))

    @app.errorhandler(StaleCase)
    @app.errorhandler(StaleDataError)
    @app.errorhandler(IntegrityError)
    def conflict(_error: Exception) -> tuple[str, int]:
        database.rollback()
        return _conflict()

    @app.errorhandler(DataError)
    def invalid_value(_error: DataError) -> tuple[str, int]:
        database.rollback()
        return _page(400, "400", INVALID_VALUE.get(_lang()), typed=_typed())

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError) -> tuple[str, int]:
        database.rollback()
        if _is_conflict(error):
            return _conflict()
        return unexpected(error)

    @app.errorhandler(CaseError)
    def case_error(error: CaseError) -> tuple[str, int]:
        database.rollback()
        return _page(409, _("Acción no permitida"), error.message.get(_lang()))

    @app.errorhandler(TransitionRefused)
    def refused(error: TransitionRefused) -> tuple[str, int]:
        database.rollback()
        status = {"forbidden": 403, "unknown": 404}.get(error.code, 409)
        return _page(status, _("Acción no permitida"), error.reason.get(_lang()))

    @app.errorhandler(CSRFError)
    def csrf(_error: CSRFError) -> tuple[str, int]:
        database.rollback()
        return _page(400, _("Formulario vencido o alterado"), _(
            "El formulario no pudo verificarse (la sesión pudo expirar). Use «Atrás» en su navegador para "
            "recuperar lo escrito, vuelva a cargar la página y envíe de nuevo."))

    @app.errorhandler(InvalidCharacters)
    def invalid_characters(error: InvalidCharacters) -> tuple[str, int]:
        database.rollback()
        return _page(400, BAD_CHARACTER.get(_lang()), error.explanation(_lang()), typed=_typed())

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        database.rollback()
        messages = {
            400: _("La solicitud no es válida."),
            401: _("Debe iniciar sesión."),
            403: _("Su rol no permite ver esta página."),
            404: _("La página no existe."),
            405: _("Método no permitido."),
            413: _("El envío es demasiado grande."),
            429: _("Demasiados intentos; espere un momento."),
        }
        status = error.code or 500
        return _page(status, str(status), messages.get(status, _("Ocurrió un error.")))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        database.rollback()
        if app.testing:
            raise error
        # The type and where it happened, never the message: messages may quote what a user typed.
        frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
        log.error("unhandled %s\n%s", type(error).__name__, frames)
        return _page(500, _("Error interno"), _("Algo falló y no se guardó nada. Intente de nuevo."))


def _conflict() -> tuple[str, int]:
    """409: someone else changed the same data first. The form as typed if the view can show it."""
    lang = _lang()
    on_case = bool((request.view_args or {}).get("reference"))
    title = _("El caso cambió") if on_case else DATA_CHANGED.get(lang)
    message = (CASE_CHANGED_WHY if on_case else DATA_CHANGED_WHY).get(lang)
    render = g.pop(CONFLICT_PAGE, None)
    if render is not None:
        flash(f"{title}. {message}", "error")
        return render(409)
    return _page(409, title, message, back=_case_link(), typed=_typed())
