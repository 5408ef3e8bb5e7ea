"""The password-reset e-mail, sent by a worker so that asking for a reset takes the same time whether
the account exists or not (the request only looks the account up and queues this task, with the
account's id or with None)."""

from __future__ import annotations

from celery import shared_task
from flask import Flask, current_app, url_for

from ..audit.service import record
from ..clocks.mail import MailSettings
from ..units import unit_of_work
from . import tokens
from .mail import deliver_reset
from .models import User

TASK = "referral.auth.reset_link"


@shared_task(name=TASK, ignore_result=True)
def send_reset_link(user_id: int | None) -> bool:
    """Issue a reset link for an active account and e-mail it; None (no such account) does nothing."""
    return reset_link(current_app._get_current_object(), user_id)  # type: ignore[attr-defined]


def reset_link(app: Flask, user_id: int | None) -> bool:
    if user_id is None:
        return False
    with unit_of_work(app) as ctx:
        user = ctx.session.get(User, user_id)
        if user is None or not user.active:
            return False
        token = tokens.issue(ctx.session, user, tokens.RESET, ctx.now())
        record(ctx, "password.reset_requested", role=user.role, node_id=user.node_id, subject=str(user.id))
        address, expires_at = user.email, ctx.now() + tokens.LIFETIMES[tokens.RESET]
        ctx.session.commit()
        timezone = ctx.timezone
    with app.test_request_context("/", base_url=app.config["BASE_URL"]):
        link = url_for("auth.reset", token=token, _external=True)
    return deliver_reset(MailSettings.from_config(app.config), app.config["REFERRAL_ENV"] == "development",
                         address, link, expires_at, timezone)
