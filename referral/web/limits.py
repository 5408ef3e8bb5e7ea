"""Rate limits (Flask-Limiter), shared through Redis when configured: login attempts per address (the
per-account backoff is referral/auth/throttling.py), requests for a password-reset link per address
(429) and per e-mail (silently: the same answer, no e-mail), and the auditors' queries per user.

One Limiter per application: Flask-Limiter keeps its storage on the Limiter object, so a shared
module-level instance would let one app's settings leak into another's.

The auditors' statistics pages (`AUDIT_QUERY_LIMIT`, counted together for the four endpoints, per
signed-in user): a burst beyond it is answered 429 with the usual error page, and recorded in the audit
log as `audit.query_burst` (the role, the node, the endpoint and the limit: never what was asked), at
most once per window of the limit that was exceeded. The views stay as they are: their entries in
`app.view_functions` are wrapped here, as the login view is. Access is checked before the view (and so
before the limit), so only users who may reach these pages are counted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import RateLimitItemPerSecond, parse

from ..audit.service import record
from ..auth import throttling
from ..units import unit_of_work
from .errors import _page

# Settings with defaults here (RESET_ADDRESS_LIMIT, RESET_EMAIL_LIMIT may be set in the app's config).
RESET_ADDRESS_LIMIT = "10 per hour"
RESET_EMAIL_LIMIT = "3 per hour"
AUDIT_QUERY_ENDPOINTS = ("stats.statistics", "stats.board", "stats.cases", "stats.case_timeline")
AUDIT_QUERY_SCOPE = "audit-queries"
BURST_EVENT = "audit.query_burst"


def init_app(app: Flask) -> Limiter:
    limiter = Limiter(get_remote_address, app=app)
    login = app.view_functions["auth.login"]
    app.view_functions["auth.login"] = limiter.limit(lambda: app.config["LOGIN_LIMIT"], methods=["POST"])(login)
    asking = app.view_functions["auth.reset_request"]
    app.view_functions["auth.reset_request"] = limiter.limit(
        lambda: app.config.get("RESET_ADDRESS_LIMIT", RESET_ADDRESS_LIMIT), methods=["POST"])(asking)
    queries = limiter.shared_limit(lambda: app.config["AUDIT_QUERY_LIMIT"], scope=AUDIT_QUERY_SCOPE,
                                   key_func=user_or_address, on_breach=_record_burst)
    for endpoint in AUDIT_QUERY_ENDPOINTS:
        app.view_functions[endpoint] = _burst_page(queries(app.view_functions[endpoint]))
    app.extensions["referral.limiter"] = limiter
    return limiter


def reset_mail_allowed(email: str) -> bool:
    """Count one request for a reset link to this e-mail (keyed digest, never the address in clear); False
    past RESET_EMAIL_LIMIT. Unknown e-mails are counted alike, so the limit tells nothing either."""
    limiter: Limiter = current_app.extensions["referral.limiter"]
    if not limiter.enabled:
        return True
    item = parse(current_app.config.get("RESET_EMAIL_LIMIT", RESET_EMAIL_LIMIT))
    secret = throttling.derive_secret(current_app.config["SECRET_KEY"])
    key = throttling.digest(secret, "reset", throttling.normalise_email(email)).hex()
    return bool(limiter.limiter.hit(item, "reset-email", key))


def user_or_address() -> str:
    """The signed-in user (wherever she connects from), or the address of an anonymous request."""
    if current_user.is_authenticated:
        return f"user:{current_user.get_id()}"
    return get_remote_address() or "unknown"


def _burst_page(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except RateLimitExceeded:
            return _page(429, "429", _("Demasiadas consultas en poco tiempo; espere unos minutos."))

    return limited


def _record_burst(breached: RequestLimit) -> None:
    """The audit event of a burst, in its own transaction; once per request, and once per window of
    the exceeded limit (a one-per-window mark in the limiter's own storage, so shared through Redis)."""
    if g.get("audit_query_burst"):
        return
    g.audit_query_burst = True
    once = RateLimitItemPerSecond(1, breached.limit.get_expiry())
    if not breached.limiter.hit(once, BURST_EVENT, *breached.request_args):
        return
    signed_in = current_user.is_authenticated
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        record(ctx, BURST_EVENT, role=current_user.role if signed_in else None,
               node_id=current_user.node_id if signed_in else None,
               details={"endpoint": request.endpoint, "limit": str(breached.limit)})
        ctx.session.commit()
