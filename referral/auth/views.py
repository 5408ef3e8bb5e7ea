"""Login, logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..audit.service import record
from ..web.access import public, signed_in
from ..web.context import current_ctx
from .services import LOCKOUT, LoginFailed, authenticate

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Correo", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Contraseña", validators=[DataRequired(), Length(max=200)])


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
def login() -> object:  # rate-limited per address: see referral/web/limits.py
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    form.email.label.text, form.password.label.text = _("Correo"), _("Contraseña")
    if form.validate_on_submit():
        ctx = current_ctx()
        try:
            user = authenticate(ctx.session, form.email.data or "", form.password.data or "", ctx.now(),
                                current_app.config["PASSWORD_PROFILE"])
        except LoginFailed as failure:
            record(ctx, "login.failed", details={"locked": failure.locked or None})  # no address: it may be a typo of another
            ctx.session.commit()  # keep the failure count
            minutes = int(LOCKOUT.total_seconds() // 60)
            message = (_("La cuenta está bloqueada por intentos fallidos; intente de nuevo en %(minutes)s minutos.",
                         minutes=minutes) if failure.locked else _("Correo o contraseña incorrectos."))
            flash(message, "error")
            return render_template("auth/login.html", form=form), 401
        record(ctx, "login.ok", role=user.role, node_id=user.node_id)
        ctx.session.commit()
        session.clear()  # a fresh session on login: no fixation
        session.permanent = True
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), 400 if form.is_submitted() else 200


@bp.post("/salir")
@signed_in
def logout() -> object:
    chosen = session.get("lang")
    logout_user()
    session.clear()
    if chosen:
        session["lang"] = chosen  # the language outlives the session
    flash(_("Sesión cerrada."), "info")
    return redirect(url_for("auth.login"))
