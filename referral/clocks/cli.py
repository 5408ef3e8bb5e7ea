"""`flask clocks status | rebuild | sweep`: the clocks for operators (docs/clocks.md)."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..kernel.models import Case
from ..units import unit_of_work
from .mail import MailSettings
from .models import RUNNING, CaseClock, Notification
from .service import rebuild, run_clocks, sweep

clocks_cli = AppGroup("clocks", help="The Protocol's clocks: status, rebuild, a sweep without Celery.")


def _app():  # type: ignore[no-untyped-def]
    return current_app._get_current_object()  # type: ignore[attr-defined]


@clocks_cli.command("status")
def status() -> None:
    """Running clocks, how many are overdue or due now, and e-mails still owed."""
    with unit_of_work(_app()) as ctx:
        now = ctx.now()
        running = ctx.session.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.status == RUNNING))
        overdue = ctx.session.scalar(select(func.count()).select_from(CaseClock).where(
            CaseClock.status == RUNNING, CaseClock.due_at <= now))
        due_now = ctx.session.scalar(select(func.count()).select_from(CaseClock).where(CaseClock.next_at <= now))
        owed = ctx.session.scalar(select(func.count()).select_from(Notification).where(Notification.email_pending))
        click.echo(f"running clocks: {running}; overdue: {overdue}; with a step due now: {due_now}; "
                   f"e-mails owed: {owed}")


@clocks_cli.command("rebuild")
def rebuild_command() -> None:
    """Create the clocks of cases that have none (a database from before clocks) from their timelines."""
    app = _app()
    with unit_of_work(app) as ctx:
        ids = list(ctx.session.scalars(select(Case.id).where(~select(CaseClock.id).where(
            CaseClock.case_id == Case.id).exists())))
    created = 0
    for case_id in ids:
        with unit_of_work(app) as ctx:
            case = ctx.session.get(Case, case_id)
            if case is not None:
                created += rebuild(ctx, case)
                ctx.session.commit()
    click.echo(f"cases without clocks: {len(ids)}; clock rows created: {created}")


@clocks_cli.command("sweep")
def sweep_command() -> None:
    """One sweep and its steps, in this process (when no worker runs; the web keeps serving)."""
    app = _app()
    lease = dt.timedelta(seconds=app.config["CLOCK_LEASE_SECONDS"])
    mail = MailSettings.from_config(app.config) is not None
    with unit_of_work(app) as ctx:
        now = ctx.now()
        ids = sweep(ctx, now, lease)
        ctx.session.commit()
    created = 0
    for start in range(0, len(ids), 50):
        with unit_of_work(app) as ctx:
            created += len(run_clocks(ctx, ids[start:start + 50], now, email=mail))
            ctx.session.commit()
    click.echo(f"clocks handled: {len(ids)}; notifications: {created}"
               + (" (their e-mails are sent by the workers' next sweep)" if mail and created else ""))
