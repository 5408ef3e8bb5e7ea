"""Translations: Spanish is the source language; the English catalog is compiled at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g
from flask_babel import get_translations

SOURCE = Path(__file__).resolve().parent / "translations"


def compile_catalogs(target: Path) -> Path:
    """Compile every translations/<lang>/LC_MESSAGES/messages.po into `target` (when newer)."""
    for po_path in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        mo_path = target / po_path.relative_to(SOURCE).with_suffix(".mo")
        if mo_path.is_file() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as source:
            catalog = read_po(source)
        temporary = mo_path.with_suffix(f".{os.getpid()}.tmp")  # its own, when processes start together
        with temporary.open("wb") as out:
            write_mo(out, catalog)
        temporary.replace(mo_path)  # atomic: concurrent start-ups never read half a file
    return target


def _request_translations() -> Any:
    """The request's catalog, looked up once per request (flask_babel finds the context, the locale and its
    cache on every call: a page says a few hundred words)."""
    found = g.get("referral_translations")
    if found is None:
        found = g.referral_translations = get_translations()
    return found


def install_template_gettext(app: Flask) -> None:
    """Templates translate through the request's catalog, looked up once (after `babel.init_app`, which installs
    the same callables without the per-request lookup). The locale is chosen once per request (`language`)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _request_translations().ugettext(s),
        ngettext=lambda s, p, n: _request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: _request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
