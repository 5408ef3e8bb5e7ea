"""Error pages: a clear message, never a stack trace, never personal data."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..cases.errors import AccessDenied, CaseError, CaseNotFound, StaleCase
from ..workflow import TransitionRefused
from .context import language

log = logging.getLogger(__name__)


def _page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(CaseNotFound)
    def case_not_found(error: CaseNotFound) -> tuple[str, int]:
        return _page(404, _("No encontrado"), error.message.get(language()))

    @app.errorhandler(AccessDenied)
    def access_denied(error: AccessDenied) -> tuple[str, int]:
        return _page(403, _("Sin acceso"), error.message.get(language()))

    @app.errorhandler(StaleCase)
    def stale(error: StaleCase) -> tuple[str, int]:
        return _page(409, _("El caso cambió"), error.message.get(language()))

    @app.errorhandler(CaseError)
    def case_error(error: CaseError) -> tuple[str, int]:
        return _page(409, _("Acción no permitida"), error.message.get(language()))

    @app.errorhandler(TransitionRefused)
    def refused(error: TransitionRefused) -> tuple[str, int]:
        status = {"forbidden": 403, "unknown": 404}.get(error.code, 409)
        return _page(status, _("Acción no permitida"), error.reason.get(language()))

    @app.errorhandler(CSRFError)
    def csrf(_error: CSRFError) -> tuple[str, int]:
        return _page(400, _("Formulario vencido o alterado"), _(
            "El formulario no pudo verificarse (la sesión pudo expirar). Use «Atrás» en su navegador para "
            "recuperar lo escrito, vuelva a cargar la página y envíe de nuevo."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
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
        if app.testing:
            raise error
        # The type and where it happened, never the message: messages may quote what a user typed.
        frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
        log.error("unhandled %s\n%s", type(error).__name__, frames)
        return _page(500, _("Error interno"), _("Algo falló y no se guardó nada. Intente de nuevo."))
