"""Login, logout, and the signed-in person's sessions (server-side: see sessions.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..audit.service import record
from ..web.access import public, signed_in
from ..web.context import current_ctx
from . import sessions as server_sessions
from .models import User, UserSession
from . import throttling
from .services import LoginFailed, authenticate

from .forms import LoginForm

bp = Blueprint("auth", __name__)


def login_refused() -> str:
    """One sentence for every failed sign-in: nothing tells an unknown e-mail, a wrong password, an inactive
    account or a throttled attempt apart."""
    return _("Correo o contraseña incorrectos, o demasiados intentos seguidos. Espere un momento e intente de "
             "nuevo; si olvidó su contraseña, puede pedir un enlace para elegir una nueva.")


def login_keys(email: str) -> throttling.Keys:
    """The backoff counters of this typed e-mail from this request's address (the client's real address
    behind trusted proxies: see ProxyFix in referral/__init__.py)."""
    return throttling.keys_for(throttling.derive_secret(current_app.config["SECRET_KEY"]), email, request.remote_addr)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return url_for("main.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("main.home")
    return target


@bp.route("/ingresar", methods=["GET", "POST"])
@public
def login() -> object:  # rate-limited per address (referral/web/limits.py), backoff per account (throttling.py)
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    form.email.label.text, form.password.label.text = _("Correo"), _("Contraseña")
    if form.validate_on_submit():
        ctx = current_ctx()
        try:
            user = authenticate(ctx.session, form.email.data or "", form.password.data or "", ctx.now(),
                                current_app.config["PASSWORD_PROFILE"], login_keys(form.email.data or ""))
        except LoginFailed as failure:
            # The account (when it exists) as the subject; never the typed e-mail, nor the address.
            record(ctx, "login.failed", subject=None if failure.user_id is None else str(failure.user_id),
                   details={"throttled": failure.throttled or None})
            ctx.session.commit()  # keep the failure count
            flash(login_refused(), "error")
            return render_template("auth/login.html", form=form), 401
        # -- second factor (referral/auth/second_factor_views.py): whoever has one, or must have one, is not
        #    signed in by the password alone; no session row exists until the second step succeeds.
        from .second_factor_views import after_password

        second_step = after_password(ctx, user, request.args.get("next"))
        if second_step is not None:
            return second_step
        # -- end of the second factor's hook
        sign_in(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), 400 if form.is_submitted() else 200


def sign_in(user: User) -> None:
    """Start a server-side session for `user` (who proved who she is), audit it, and give the browser a
    fresh cookie naming it. Commits."""
    ctx = current_ctx()
    signed, token = server_sessions.start(ctx.session, user, session_now(), _absolute_lifetime(),
                                          request.user_agent.string)
    record(ctx, "login.ok", role=user.role, node_id=user.node_id, subject=str(signed.id))
    ctx.session.commit()
    session.clear()  # a fresh session on login: no fixation (and no half-signed-in state left)
    session.permanent = True
    login_user(user)
    # The cookie names the session, not the account: Flask-Login hands this token to load_signed_in.
    session["_user_id"] = token
    g.user_session_id = signed.id


@bp.post("/salir")
@signed_in
def logout() -> object:
    ctx = current_ctx()
    row = current_session()
    if row is not None:
        server_sessions.revoke(row, session_now())
        record(ctx, "logout", role=current_user.role, node_id=current_user.node_id, subject=str(row.id))
        ctx.session.commit()
    chosen = session.get("lang")
    logout_user()
    session.clear()
    if chosen:
        session["lang"] = chosen  # the language outlives the session
    flash(_("Sesión cerrada."), "info")
    return redirect(url_for("auth.login"))


# -- server-side sessions ---------------------------------------------------------------------------


def session_now() -> dt.datetime:
    """Sessions run on the wall clock, as the signed cookie's own age does: the test suites move the app's
    CLOCK by hours and days to run deadlines while staying signed in. Tests of sessions set SESSION_CLOCK."""
    return server_sessions.session_clock(current_app.config)()


def _absolute_lifetime() -> dt.timedelta:
    return dt.timedelta(hours=float(current_app.config["SESSION_ABSOLUTE_HOURS"]))


def _idle() -> dt.timedelta:
    return current_app.permanent_session_lifetime


def load_signed_in(token: str) -> User | None:
    """Flask-Login's user loader: the cookie's token must name a live session of an active account.
    Anything else (an old cookie holding a user id, a session ended or expired) is nobody."""
    db = current_ctx().session
    now = session_now()
    row = server_sessions.resume(db, token, now, _idle())
    if row is None:
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    server_sessions.touch(db, row, now)
    g.user_session_id = row.id
    return user


def current_session() -> UserSession | None:
    """The row of the session this request runs in (None for anonymous requests)."""
    if not current_user.is_authenticated or g.get("user_session_id") is None:
        return None
    return current_ctx().session.get(UserSession, g.user_session_id)


BROWSER_NAMES = {"edge": "Edge", "opera": "Opera", "samsung": "Samsung Internet", "firefox": "Firefox",
                 "chrome": "Chrome", "safari": "Safari"}


@dataclass(frozen=True)
class SessionRow:
    id: uuid.UUID
    browser: str
    created: str
    last_seen: str
    current: bool


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(current_ctx().timezone).strftime("%d-%m-%Y %H:%M")


@bp.get("/cuenta/sesiones")
@signed_in
def my_sessions() -> object:
    ctx = current_ctx()
    rows = [SessionRow(row.id, BROWSER_NAMES.get(row.browser) or _("Otro navegador"), _when(row.created_at),
                       _when(row.last_seen_at), row.id == g.get("user_session_id"))
            for row in server_sessions.active_sessions(ctx.session, current_user.id, session_now(), _idle())]
    rows.sort(key=lambda row: not row.current)  # this one first
    return render_template("auth/sessions.html", rows=rows, others=sum(not row.current for row in rows),
                           idle_hours=_hours(_idle()), absolute_hours=_hours(_absolute_lifetime()))


def _hours(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}"


@bp.post("/cuenta/sesiones/<uuid:session_id>/cerrar")
@signed_in
def end_session(session_id: uuid.UUID) -> object:
    """End one of one's own sessions (another person's, or one already ended, is 404)."""
    ctx = current_ctx()
    row = server_sessions.find_own(ctx.session, current_user.id, session_id, session_now(), _idle())
    if row is None:
        abort(404)
    ending_this_one = row.id == g.get("user_session_id")
    server_sessions.revoke(row, session_now())
    record(ctx, "session.revoked", role=current_user.role, node_id=current_user.node_id, subject=str(row.id),
           details={"scope": "this" if ending_this_one else "one"})
    ctx.session.commit()
    if ending_this_one:
        chosen = session.get("lang")
        logout_user()
        session.clear()
        if chosen:
            session["lang"] = chosen
        flash(_("Sesión cerrada."), "info")
        return redirect(url_for("auth.login"))
    flash(_("La sesión fue cerrada."), "info")
    return redirect(url_for("auth.my_sessions"))


@bp.post("/cuenta/sesiones/cerrar-otras")
@signed_in
def end_other_sessions() -> object:
    """Sign out everywhere else: every other session of the person ends; this one goes on."""
    ctx = current_ctx()
    ended = server_sessions.revoke_all(ctx.session, current_user.id, session_now(), keep=g.get("user_session_id"),
                                       idle=_idle())
    if ended:
        record(ctx, "session.revoked", role=current_user.role, node_id=current_user.node_id,
               details={"scope": "others", "count": len(ended)})
    ctx.session.commit()
    flash(_("Se cerraron las demás sesiones.") if ended else _("No había otras sesiones abiertas."), "info")
    return redirect(url_for("auth.my_sessions"))


# The password pages (enrolment, change, reset) register their routes on this blueprint.
from . import credentials as credentials  # noqa: E402,F401
# The second factor's pages live on this blueprint (imported last: they use the helpers above).
from . import second_factor_views as second_factor_views  # noqa: E402,F401
