"""The service Context for the current request, and the user's language."""

from __future__ import annotations

from flask import current_app, g, session
from flask_login import current_user

from ..context import Context
from ..extensions import database

LANGUAGES = ("es", "en")


def current_ctx() -> Context:
    if "referral_ctx" not in g:
        app = current_app
        g.referral_ctx = Context(
            session=database.session(),
            protocol=app.extensions["referral.protocol"],
            vault=app.extensions["referral.vault"],
            timezone=app.extensions["referral.timezone"],
            clock=app.config["CLOCK"],
            blobs=app.extensions["referral.blobs"],
        )
    return g.referral_ctx


def language() -> str:
    """Spanish unless the user chose English (in this session or in their profile)."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    return "es"
