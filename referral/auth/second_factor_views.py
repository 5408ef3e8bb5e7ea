"""Second-factor pages: the code after the password, the enrolment forced at sign-in, the person's own
authenticator (/cuenta/segundo-factor) and the confirmation before sensitive steps (/cuenta/confirmar).

Half-signed-in state: after a correct password, the signed cookie holds only the id of an open
`Verification` (and where to go next); the server keeps its user, its age (5 minutes at most) and its
wrong codes. No session row exists and `current_user` is anonymous until the code is right, so the cookie
opens no other page. The rules are in second_factor.py.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from ..audit.service import record
from ..context import Context
from ..web.access import public, signed_in
from ..web.context import current_ctx
from . import second_factor as factors
from . import sessions as server_sessions
from .fresh import recently_verified
from .models import User, Verification
from .passwords import verify_password
from .views import _safe_next, bp, current_session, session_now, sign_in

from .forms import CodeForm, ConfirmForm

PENDING = "second_step"  # the cookie's half-signed-in state: {"attempt": id, "next": path}
CARRY = "carry."  # prefix of the fields of a refused POST, carried through the confirmation page


def _code_form(**options: Any) -> CodeForm:
    form = CodeForm(**options)
    form.code.label.text = _("Código de verificación")
    return form


def _confirm_form(**options: Any) -> ConfirmForm:
    form = ConfirmForm(**options)
    form.password.label.text, form.code.label.text = _("Contraseña"), _("Código de verificación")
    return form


def _profile() -> str:
    return str(current_app.config["PASSWORD_PROFILE"])


def _audit(ctx: Context, action: str, user: User, **details: Any) -> None:
    record(ctx, action, role=user.role, node_id=user.node_id, subject=str(user.id), details=details)


# -- sign-in, second step ---------------------------------------------------------------------------


def after_password(ctx: Context, user: User, target: str | None) -> Any:
    """Called by the login view after a correct password: None (sign in now), or the way to the second step."""
    db, now = ctx.session, session_now()
    if factors.active_factor(db, user.id) is not None:
        purpose = factors.LOGIN
    elif factors.required(db, ctx.definition, user):
        purpose = factors.ENROL
    else:
        return None
    if factors.too_many_failures(db, user.id, now):
        _audit(ctx, "second_factor.failed", user, purpose=purpose, reason="hourly_limit")
        db.commit()
        flash(_("Demasiados códigos incorrectos en la última hora. Intente de nuevo más tarde."), "error")
        return redirect(url_for("auth.login", **_next_arg(target)))
    attempt = factors.start_attempt(db, user, purpose, now)
    db.commit()
    session[PENDING] = {"attempt": str(attempt.id), "next": _safe_next(target)}
    return redirect(url_for("auth.login_code" if purpose == factors.LOGIN else "auth.login_enrol"))


def _next_arg(target: str | None) -> dict[str, str]:
    return {"next": _safe_next(target)}  # kept through the password page, which checks it again


def _pending(purpose: str) -> tuple[Verification, User] | None:
    """The half-signed-in login this cookie names, if still open and young enough."""
    state = session.get(PENDING)
    if not isinstance(state, dict):
        return None
    db = current_ctx().session
    attempt = factors.live_attempt(db, state.get("attempt"), purpose, session_now())
    user = db.get(User, attempt.user_id) if attempt is not None else None
    if attempt is None or user is None or not user.active:
        return None
    return attempt, user


def _back_to_password(message: str) -> Any:
    state = session.pop(PENDING, None)
    flash(message, "error")
    target = state.get("next") if isinstance(state, dict) else None
    return redirect(url_for("auth.login", **_next_arg(target)))


def _expired() -> Any:
    return _back_to_password(_("La verificación expiró o ya no es válida. Ingrese de nuevo con su contraseña."))


def _wrong_code(ctx: Context, attempt: Verification, user: User) -> bool:
    """Count a wrong code (committed); return True when the attempt is used up."""
    exhausted = factors.record_failure(attempt, session_now())
    _audit(ctx, "second_factor.failed", user, purpose=attempt.purpose, failures=attempt.failures)
    ctx.session.commit()
    return exhausted


def _too_many() -> str:
    return _("Demasiados códigos incorrectos. Ingrese de nuevo con su contraseña.")


@bp.route("/ingresar/codigo", methods=["GET", "POST"])
@public
def login_code() -> Any:
    """«Código de verificación»: a code of the authenticator app, or a recovery code."""
    found = _pending(factors.LOGIN)
    if found is None:
        return _expired()
    attempt, user = found
    ctx, form = current_ctx(), _code_form()
    if form.validate_on_submit():
        accepted = factors.check_code(ctx.session, ctx.vault.masters, user, form.code.data or "", session_now(),
                                      _profile())
        if accepted is not None:
            return _signed_in_with(ctx, attempt, user, accepted)
        if _wrong_code(ctx, attempt, user):
            return _back_to_password(_too_many())
        flash(_("Código incorrecto o ya usado."), "error")
        return render_template("auth/second_factor_code.html", form=form), 401
    return render_template("auth/second_factor_code.html", form=form), 400 if form.is_submitted() else 200


def _signed_in_with(ctx: Context, attempt: Verification, user: User, accepted: factors.Accepted) -> Any:
    factors.end_attempt(attempt, session_now())
    if accepted.kind == factors.RECOVERY:
        _audit(ctx, "recovery_code.used", user, remaining=accepted.remaining)
    target = _safe_next(session.get(PENDING, {}).get("next"))
    sign_in(user)
    if accepted.kind == factors.RECOVERY:
        _flash_remaining(accepted.remaining or 0)
    return redirect(target)


def _flash_remaining(remaining: int) -> None:
    flash(_("Usó un código de recuperación. Le quedan %(count)s. Puede generar códigos nuevos en «Segundo factor».",
            count=remaining), "info" if remaining > 2 else "error")


@bp.route("/ingresar/segundo-factor", methods=["GET", "POST"])
@public
def login_enrol() -> Any:
    """Forced enrolment: a person who must have a second factor and has none sets it up before anything."""
    found = _pending(factors.ENROL)
    if found is None:
        return _expired()
    attempt, user = found
    ctx, form = current_ctx(), _code_form()
    factor, secret = factors.begin_enrolment(ctx.session, ctx.vault.masters, user, session_now())
    ctx.session.commit()
    if form.validate_on_submit():
        codes = factors.confirm_enrolment(ctx.session, ctx.vault.masters, factor, form.code.data or "",
                                          session_now(), _profile())
        if codes is not None:
            factors.end_attempt(attempt, session_now())
            _audit(ctx, "second_factor.enrolled", user, at="sign_in")
            target = _safe_next(session.get(PENDING, {}).get("next"))
            sign_in(user)
            return render_template("auth/recovery_codes.html", codes=codes, next=target, first=True)
        if _wrong_code(ctx, attempt, user):
            return _back_to_password(_too_many())
        flash(_("El código no corresponde. Revise que la hora de su teléfono sea la correcta."), "error")
    return _enrol_page(form, user, secret, forced=True)


def _enrol_page(form: CodeForm, user: User, secret: str, *, forced: bool) -> Any:
    status = 200 if not form.is_submitted() else 400 if form.errors else 401  # 401: a wrong code
    uri = factors.provisioning_uri(secret, user.email)
    return render_template("auth/second_factor_enrol.html", form=form, qr=factors.qr_svg(uri),
                           secret=factors.grouped(secret), forced=forced), status


# -- the person's own second factor -----------------------------------------------------------------


@bp.get("/cuenta/segundo-factor")
@signed_in
def second_factor() -> Any:
    ctx = current_ctx()
    factor = factors.active_factor(ctx.session, current_user.id)
    return render_template("auth/second_factor.html", enrolled=factor is not None,
                           required=factors.required(ctx.session, ctx.definition, current_user),
                           left=factors.recovery_codes_left(ctx.session, current_user.id))


@bp.route("/cuenta/segundo-factor/activar", methods=["GET", "POST"])
@signed_in
@recently_verified
def enrol_second_factor() -> Any:
    """Set up an authenticator (or move to a new phone: the old one works until the new one is confirmed)."""
    ctx, form = current_ctx(), _code_form()
    factor, secret = factors.begin_enrolment(ctx.session, ctx.vault.masters, current_user, session_now())
    ctx.session.commit()
    if form.validate_on_submit():
        codes = factors.confirm_enrolment(ctx.session, ctx.vault.masters, factor, form.code.data or "",
                                          session_now(), _profile())
        if codes is not None:
            _audit(ctx, "second_factor.enrolled", current_user, at="account")
            ctx.session.commit()
            return render_template("auth/recovery_codes.html", codes=codes, next=url_for("auth.second_factor"),
                                   first=True)
        _audit(ctx, "second_factor.failed", current_user, purpose="enrol_account")
        ctx.session.commit()
        flash(_("El código no corresponde. Revise que la hora de su teléfono sea la correcta."), "error")
    return _enrol_page(form, current_user, secret, forced=False)


@bp.post("/cuenta/segundo-factor/quitar")
@signed_in
@recently_verified
def remove() -> Any:
    ctx = current_ctx()
    if factors.required(ctx.session, ctx.definition, current_user):
        flash(_("Su función exige un segundo factor: puede cambiar de teléfono, pero no quitarlo."), "error")
        return redirect(url_for("auth.second_factor"), 303)
    if factors.active_factor(ctx.session, current_user.id) is None:
        abort(404)
    factors.remove(ctx.session, current_user.id)
    _audit(ctx, "second_factor.removed", current_user)
    ctx.session.commit()
    flash(_("Se quitó el segundo factor. Desde ahora ingresa solo con su contraseña."), "info")
    return redirect(url_for("auth.second_factor"), 303)


@bp.post("/cuenta/segundo-factor/codigos")
@signed_in
@recently_verified
def regenerate() -> Any:
    """New recovery codes, shown once; the earlier ones stop working."""
    ctx = current_ctx()
    if factors.active_factor(ctx.session, current_user.id) is None:
        abort(404)
    codes = factors.issue_recovery_codes(ctx.session, current_user.id, session_now(), _profile())
    _audit(ctx, "recovery_codes.regenerated", current_user)
    ctx.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes, next=url_for("auth.second_factor"), first=False)


# -- re-authentication ------------------------------------------------------------------------------


def ask_confirmation() -> Any:
    """What `@recently_verified` answers when the proof of identity is too old: a GET goes to the
    confirmation page and comes back; a POST gets the page at once, carrying what was posted."""
    if request.method == "GET":
        return redirect(url_for("auth.confirm", next=request.full_path if request.query_string else request.path))
    form = _confirm_form(formdata=None, next=request.path)
    carried = [(CARRY + key, value) for key, value in request.form.items(multi=True) if key != "csrf_token"]
    return _confirm_page(form, carried), 401


def _confirm_page(form: ConfirmForm, carried: list[tuple[str, str]]) -> Any:
    ctx = current_ctx()
    return render_template("auth/confirm.html", form=form, carried=carried,
                           has_factor=factors.active_factor(ctx.session, current_user.id) is not None,
                           minutes=current_app.config.get("REAUTH_MINUTES", 10))


@bp.route("/cuenta/confirmar", methods=["GET", "POST"])
@signed_in
def confirm() -> Any:
    """Prove again who one is (password, and the second factor if one has it) before a sensitive step."""
    ctx, row = current_ctx(), current_session()
    if row is None:
        abort(401)
    form = _confirm_form(next=request.args.get("next"))
    carried = [(key, value) for key, value in request.form.items(multi=True) if key.startswith(CARRY)]
    if not form.validate_on_submit():
        return _confirm_page(form, carried), 400 if form.is_submitted() else 200
    attempt = factors.open_confirmation(ctx.session, current_user, row.id, session_now())
    accepted = _proof(ctx, form)
    if accepted is None:
        return _confirmation_failed(ctx, attempt, row, form, carried)
    now = session_now()
    row.verified_at = now
    factors.end_attempt(attempt, now)
    record(ctx, "reauth.ok", role=current_user.role, node_id=current_user.node_id, subject=str(row.id),
           details={"second_factor": accepted.kind if accepted.kind != "password" else None})
    if accepted.kind == factors.RECOVERY:
        _audit(ctx, "recovery_code.used", current_user, remaining=accepted.remaining)
        _flash_remaining(accepted.remaining or 0)
    ctx.session.commit()
    target = _safe_next(form.next.data)
    if carried:
        fields = [(key.removeprefix(CARRY), value) for key, value in carried]
        return render_template("auth/confirm_continue.html", target=target, fields=fields)
    return redirect(target, 303)


def _proof(ctx: Context, form: ConfirmForm) -> factors.Accepted | None:
    """The password, then (if she has one) the second factor; None if either is wrong."""
    if not verify_password(current_user.password_hash, form.password.data or "", _profile()):
        return None
    if factors.active_factor(ctx.session, current_user.id) is None:
        return factors.Accepted("password")
    return factors.check_code(ctx.session, ctx.vault.masters, current_user, form.code.data or "", session_now(),
                              _profile())


def _confirmation_failed(ctx: Context, attempt: Verification, row: Any, form: ConfirmForm,
                         carried: list[tuple[str, str]]) -> Any:
    exhausted = factors.record_failure(attempt, session_now())
    record(ctx, "reauth.failed", role=current_user.role, node_id=current_user.node_id, subject=str(row.id),
           details={"failures": attempt.failures})
    if exhausted:  # five wrong proofs in one session: whoever holds it is not trusted with it any more
        server_sessions.revoke(row, session_now())
        ctx.session.commit()
        logout_user()
        session.clear()
        flash(_("Demasiados intentos fallidos: la sesión se cerró. Ingrese de nuevo."), "error")
        return redirect(url_for("auth.login"), 303)
    ctx.session.commit()
    flash(_("La contraseña o el código no son correctos."), "error")
    form.password.data = ""
    return _confirm_page(form, carried), 401
