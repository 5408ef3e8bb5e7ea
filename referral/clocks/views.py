"""The user's notifications: the list, and marking them read. Thin: referral/clocks/reading.py decides."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from ..web.access import signed_in
from ..web.context import current_ctx, language
from .reading import ALL, mark_read, notifications_page

bp = Blueprint("clocks", __name__)


def _back() -> Any:
    page = request.form.get("pagina", type=int)
    return redirect(url_for("clocks.notifications", pagina=page if page and page > 1 else None), 303)


@bp.get("/notificaciones")
@signed_in
def notifications() -> Any:
    page = notifications_page(current_ctx(), current_user, language(), request.args.get("pagina", 1, type=int))
    return render_template("clocks/notifications.html", page=page)


@bp.post("/notificaciones/<uuid:note_id>/leida")
@signed_in
def mark_one_read(note_id: uuid.UUID) -> Any:
    ctx = current_ctx()
    mark_read(ctx, current_user, note_id)  # someone else's, or no such one: NotificationNotFound, 404
    ctx.session.commit()
    return _back()


@bp.post("/notificaciones/leidas")
@signed_in
def mark_all_read() -> Any:
    """Marks what the page showed: the form carries the page's moment, so a notification that
    arrived after the user looked stays unread."""
    try:
        until = dt.datetime.fromisoformat(request.form.get("hasta", ""))
    except ValueError:
        abort(400)
    if until.tzinfo is None:
        abort(400)
    ctx = current_ctx()
    mark_read(ctx, current_user, ALL, until)
    ctx.session.commit()
    return _back()
