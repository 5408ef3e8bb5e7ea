"""One's own password: set it from an enrolment link, change it, or reset it from a link sent by e-mail.

Links carry a one-time token (tokens.py). Django's habit: the link's page puts the token in the session
and redirects to an address without it, so the token stays in no log, history or Referer header.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from kombu.exceptions import OperationalError
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..context import Context
from ..web.access import public, signed_in
from ..web.context import current_ctx
from ..web.limits import reset_mail_allowed
from . import policy, services, throttling, tokens
from . import sessions as server_sessions
from .models import User
from .services import check_current_password, find_account
from .tasks import TASK
from .views import _absolute_lifetime, bp, login_keys, session_now

SESSION_KEYS = {tokens.ENROL: "enrol_token", tokens.RESET: "reset_token"}
LONGEST = policy.MAX_LENGTH + 1  # the policy says "too long"; the form only bounds the input


class NewPasswordForm(FlaskForm):
    password = PasswordField("Nueva contraseña", validators=[DataRequired(), Length(max=LONGEST)])
    confirmation = PasswordField("Repita la nueva contraseña", validators=[DataRequired(), Length(max=LONGEST)])

    def translate(self) -> NewPasswordForm:
        self.password.label.text = _("Nueva contraseña")
        self.confirmation.label.text = _("Repita la nueva contraseña")
        return self


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Contraseña actual", validators=[DataRequired(), Length(max=LONGEST)])

    def translate(self) -> ChangePasswordForm:
        super().translate()
        self.current.label.text = _("Contraseña actual")
        return self


class ResetRequestForm(FlaskForm):
    email = EmailField("Correo", validators=[DataRequired(), Length(max=200)])


def problem_text(problem: policy.Problem) -> str:
    return {
        policy.Problem.TOO_SHORT: _("Use al menos %(n)s caracteres; una frase de varias palabras sirve bien.",
                                    n=policy.MIN_LENGTH),
        policy.Problem.TOO_LONG: _("Use como máximo %(n)s caracteres.", n=policy.MAX_LENGTH),
        policy.Problem.PERSONAL: _("No use su correo ni su nombre como contraseña."),
        policy.Problem.COMMON: _("Esa contraseña es demasiado común o fácil de adivinar; elija otra más larga "
                                 "o menos predecible."),
        policy.Problem.MISMATCH: _("Las dos contraseñas no coinciden."),
    }[problem]


def _acceptable(form: NewPasswordForm, user: User) -> bool:
    """Apply the policy; its reasons become the form's errors."""
    found = policy.problems(form.password.data or "", email=user.email, name=user.display_name,
                            confirmation=form.confirmation.data or "",
                            country_words=current_app.extensions["referral.protocol"].country.password_words)
    for problem in found:
        field = form.confirmation if problem is policy.Problem.MISMATCH else form.password
        field.errors = [*field.errors, problem_text(problem)]
    return not found


def _profile() -> str:
    return str(current_app.config["PASSWORD_PROFILE"])


# -- links: enrolment and reset -------------------------------------------------------------------


def _keep_token(purpose: str, token: str, then: str) -> object:
    if len(token) <= tokens.MAX_TOKEN_LENGTH:  # a longer one is not ours (and would overflow the cookie)
        session[SESSION_KEYS[purpose]] = token
    else:
        session.pop(SESSION_KEYS[purpose], None)
    return redirect(url_for(then))


@bp.get("/cuenta/activar/<token>")
@public
def enrol(token: str) -> object:
    """The link of a new account's enrolment e-mail: keep the token, drop it from the address."""
    return _keep_token(tokens.ENROL, token, "auth.enrol_password")


@bp.get("/cuenta/recuperar/<token>")
@public
def reset(token: str) -> object:
    """The link of a reset e-mail: keep the token, drop it from the address."""
    return _keep_token(tokens.RESET, token, "auth.reset_password")


@bp.route("/cuenta/activar", methods=["GET", "POST"])
@public
def enrol_password() -> object:
    return _choose_password(tokens.ENROL, "auth/enrol.html", _enrol,
                            lambda: _("Su contraseña quedó guardada. Ya puede ingresar."))


@bp.route("/cuenta/nueva-contrasena", methods=["GET", "POST"])
@public
def reset_password() -> object:
    return _choose_password(tokens.RESET, "auth/reset_password.html", _reset,
                            lambda: _("Su nueva contraseña quedó guardada y se cerraron todas sus sesiones. "
                                      "Ya puede ingresar."))


def _enrol(ctx: Context, user: User, password: str) -> None:
    services.enrol(ctx, user, password, _profile())


def _reset(ctx: Context, user: User, password: str) -> None:
    services.reset_password(ctx, user, password, _profile(),
                            throttling.derive_secret(current_app.config["SECRET_KEY"]))


def _choose_password(purpose: str, template: str, apply: Callable[[Context, User, str], None],
                     done: Callable[[], str]) -> object:
    """The page behind a link: the new password twice; on success, use the token and set the password."""
    ctx = current_ctx()
    key = SESSION_KEYS[purpose]
    user = tokens.peek(ctx.session, session.get(key), purpose, ctx.now())
    if user is None:
        return _link_invalid(key)
    form = NewPasswordForm().translate()
    if not (form.validate_on_submit() and _acceptable(form, user)):
        return render_template(template, form=form), 400 if form.is_submitted() else 200
    if tokens.redeem(ctx.session, session.get(key), purpose, ctx.now()) is None:
        return _link_invalid(key)  # used meanwhile by another request
    apply(ctx, user, form.password.data or "")
    ctx.session.commit()
    session.pop(key, None)
    flash(done(), "info")
    return redirect(url_for("auth.login"))


def _link_invalid(key: str) -> object:
    session.pop(key, None)
    return render_template("auth/link_invalid.html"), 404


# -- asking for a reset link ----------------------------------------------------------------------


@bp.route("/cuenta/recuperar", methods=["GET", "POST"])
@public
def reset_request() -> object:
    """The same answer, after the same work, whether the account exists or not: look it up and queue the
    e-mail task (with the account's id, or None); the worker issues the link and sends it."""
    form = ResetRequestForm()
    form.email.label.text = _("Correo")
    if not form.validate_on_submit():
        return render_template("auth/reset_request.html", form=form), 400 if form.is_submitted() else 200
    email = form.email.data or ""
    allowed = reset_mail_allowed(email)
    user = find_account(current_ctx().session, email)
    target = user.id if user is not None and user.active and allowed else None
    try:
        current_app.extensions["celery"].send_task(TASK, args=[target])
    except (OperationalError, OSError) as error:  # the broker is down: the person may ask again later
        current_app.logger.warning("reset e-mail task not queued (%s)", type(error).__name__)
    return render_template("auth/reset_sent.html"), 200


# -- changing one's password ------------------------------------------------------------------------


@bp.route("/cuenta/contrasena", methods=["GET", "POST"])
@signed_in
def change_password() -> object:
    """Current password and the new one twice. Every other session of the person ends; this one goes on
    as a fresh session."""
    ctx = current_ctx()
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    form = ChangePasswordForm().translate()
    if form.validate_on_submit():
        if not check_current_password(ctx.session, user, form.current.data or "", ctx.now(), _profile(),
                                      login_keys(user.email)):
            ctx.session.commit()  # keep the failure count
            form.current.errors = [_("La contraseña actual no es correcta.")]
        elif _acceptable(form, user):
            _replace_password(ctx, user, form.password.data or "")
            flash(_("Su contraseña fue cambiada; se cerraron sus demás sesiones."), "info")
            return redirect(url_for("auth.my_sessions"))
    return render_template("auth/password.html", form=form), 400 if form.is_submitted() else 200


def _replace_password(ctx: Context, user: User, password: str) -> None:
    """Change the password, then carry on in a fresh session (the change ended them all, this one too)."""
    services.change_password(ctx, user, password, _profile())
    signed, token = server_sessions.start(ctx.session, user, session_now(), _absolute_lifetime(),
                                          request.user_agent.string)
    ctx.session.commit()
    chosen = session.get("lang")
    session.clear()
    session.permanent = True
    login_user(user)
    session["_user_id"] = token  # a fresh session, as at sign-in (views.login)
    if chosen:
        session["lang"] = chosen
    g.user_session_id = signed.id
