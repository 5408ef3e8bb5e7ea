"""Celery tasks for the clocks. Their arguments are ids only (clock row ids, notification ids):
nothing personal ever sits in a broker, a result store or a worker's log."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from celery import shared_task
from flask import current_app

from .units import unit_of_work
from .clocks.mail import MailSettings, deliver
from .referrals.emergency import expire as expire_emergency_access
from .cases.drafts import expire_drafts
from .cases.worklists import rebuild as rebuild_worklists
from .clocks.service import emails_handed_out, run_clocks, sweep, sweep_emails

log = logging.getLogger(__name__)

BATCH = 50  # clocks per task: few broker messages for a big backlog, small enough to spread over workers


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=current_app.config["CLOCK_LEASE_SECONDS"])


def _now() -> dt.datetime:
    now: dt.datetime = current_app.config["CLOCK"]()
    return now


@shared_task(name="referral.clocks.sweep", ignore_result=True)
def sweep_clocks() -> int:
    """Beat runs this every minute: hand every due clock to the clocks' workers and every e-mail still
    owed (and not already handed out) to the mail queue, and end the emergency accesses whose time is up."""
    mail = MailSettings.from_config(current_app.config)
    with unit_of_work(current_app) as ctx:
        now = _now()
        ids = sweep(ctx, now, _lease())
        emails = sweep_emails(ctx, now, _lease()) if mail else []
        expired = expire_emergency_access(ctx, now)  # access checks already refuse them; this drops the wraps
        shredded = expire_drafts(ctx, now)  # unfinished Fichas past their retention
        ctx.session.commit()
    if shredded:
        log.info("clock sweep: %d expired drafts shredded", shredded)
    if expired:
        log.info("clock sweep: %d emergency accesses ended", expired)
    for start in range(0, len(ids), BATCH):
        run_due_clocks.delay(ids[start:start + BATCH])
    for start in range(0, len(emails), BATCH):
        send_notification_emails.delay([str(note_id) for note_id in emails[start:start + BATCH]])
    if ids or emails:
        log.info("clock sweep: %d clocks and %d e-mails handed to workers", len(ids), len(emails))
    return len(ids)


@shared_task(name="referral.clocks.run", ignore_result=True)
def run_due_clocks(clock_ids: list[int]) -> int:
    """Run the steps that have come for these clocks; safe to run twice (see service.run_clocks)."""
    mail = MailSettings.from_config(current_app.config)
    with unit_of_work(current_app) as ctx:
        now = _now()
        created = run_clocks(ctx, [int(i) for i in clock_ids], now, email=mail is not None)
        if mail is not None and created:
            emails_handed_out(ctx, created, now)  # queued below: the next sweep leaves them to that task
        ctx.session.commit()
    if mail is not None and created:  # without SMTP there is nothing to send (and no message to queue)
        send_notification_emails.delay([str(note_id) for note_id in created])
    return len(created)


@shared_task(name="referral.clocks.email", ignore_result=True)
def send_notification_emails(note_ids: list[str]) -> int:
    """Send the e-mail of each notification still owed; one failure does not stop the others. Routed to
    the mail queue (referral/queue.py), so its SMTP conversations never hold the clocks' worker."""
    mail = MailSettings.from_config(current_app.config)
    if mail is None:
        return 0
    sent = 0
    with unit_of_work(current_app) as ctx:
        for note_id in note_ids:
            sent += deliver(ctx.session, uuid.UUID(note_id), ctx.definition, mail, ctx.timezone, _now(), _lease())
    return sent


@shared_task(name="referral.worklists.reconcile", ignore_result=True)
def reconcile_worklists() -> int:
    """Beat runs this every quarter of an hour: every worklist row checked against the cases and repaired. The
    steps keep the rows in their own transactions; a difference found here means a write went around them (a
    manual fix in SQL, a restore), and is logged as a count."""
    with unit_of_work(current_app) as ctx:
        changed = rebuild_worklists(ctx.session, ctx.definition)
        ctx.session.commit()
    if changed:
        log.warning("worklists: %d rows differed from the cases and were repaired", changed)
    return changed
