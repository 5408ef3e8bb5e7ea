"""Command line: `flask --app wsgi db upgrade`, `flask --app wsgi demo load --cases N --seed S`,
`flask --app wsgi nodes import FILE` (and the other groups registered below)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import migrate
from .extensions import database

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
demo_cli = AppGroup("demo", help="Demo network and cases.")
worklists_cli = AppGroup("worklists", help="The worklists' rows kept by the steps (referral/cases/worklists.py).")


def _worklists(repair: bool) -> int:
    from .cases.worklists import rebuild
    from .units import unit_of_work

    with unit_of_work(current_app) as ctx:
        changed = rebuild(ctx.session, ctx.definition)
        if repair:
            ctx.session.commit()
        else:
            ctx.session.rollback()
    return changed


def _fill_worklists() -> None:
    """After a migration: fill the worklists' table if it is empty while cases exist (its first upgrade)."""
    from sqlalchemy import exists, select

    from .kernel.models import Case, WorklistEntry

    session = database.factory(current_app)()
    try:
        empty = session.scalar(select(exists().where(Case.id.isnot(None)) & ~exists().where(
            WorklistEntry.case_id.isnot(None))))
    finally:
        session.close()
    if empty:
        click.echo(f"worklists: {_worklists(repair=True)} rows computed from the cases")


@worklists_cli.command("rebuild")
def worklists_rebuild() -> None:
    """Compute every worklist row from the cases again and repair what differs."""
    click.echo(f"worklists: {_worklists(repair=True)} rows added, changed or removed")


@worklists_cli.command("check")
def worklists_check() -> None:
    """Compare every worklist row with the cases; exit 1 if any differs (nothing is written)."""
    changed = _worklists(repair=False)
    click.echo(f"worklists: {changed} rows differ from the cases")
    if changed:
        raise SystemExit(1)


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply every migration up to REVISION."""
    migrate.upgrade(database.engine(current_app), revision)
    if revision == "head":
        _fill_worklists()
    click.echo(f"database at {revision}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    migrate.new_revision(database.engine(current_app), message)


@demo_cli.command("load")
@click.option("--cases", "count", type=click.IntRange(0, 100_000), default=60, show_default=True)
@click.option("--seed", type=int, default=2013, show_default=True, help="Same seed, same people.")
def demo_load(count: int, seed: int) -> None:
    """(Re)create the demo network, users and COUNT demo cases spread over every state."""
    from .demo.loader import load_demo

    if current_app.config["REFERRAL_ENV"] == "production":
        raise click.ClickException("refusing to load demo data with REFERRAL_ENV=production")
    migrate.upgrade(database.engine(current_app))
    summary = load_demo(current_app, cases=count, seed=seed, progress=click.echo)
    click.echo(summary)


@demo_cli.command("scale")
@click.option("--cases", "count", type=click.IntRange(1, 1_000_000), default=100_000, show_default=True)
@click.option("--seed", type=int, default=2013, show_default=True, help="Same seed, same people.")
def demo_scale(count: int, seed: int) -> None:
    """(Re)create a national-scale demo: ~400 nodes, ~3,000 users and COUNT cases (a few prototypes through
    the services, cloned with fresh keys and bulk inserts); progress on stderr."""
    from .demo.scale import load_scale

    if current_app.config["REFERRAL_ENV"] == "production":
        raise click.ClickException("refusing to load demo data with REFERRAL_ENV=production")
    migrate.upgrade(database.engine(current_app))
    click.echo(load_scale(current_app, cases=count, seed=seed))


@demo_cli.command("code")
@click.argument("email")
def demo_code(email: str) -> None:
    """Print the current second-factor code of a demo account (demo authenticators only)."""
    from sqlalchemy import func, select

    from .auth.models import User
    from .auth.sessions import session_clock
    from .demo.second_factor import current_code

    if current_app.config["REFERRAL_ENV"] == "production":
        raise click.ClickException("refusing to print codes with REFERRAL_ENV=production")
    session = database.factory(current_app)()
    try:
        user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        code = None if user is None else current_code(session, current_app.extensions["referral.vault"].masters,
                                                       user, session_clock(current_app.config)())
    finally:
        session.close()
    if code is None:
        raise click.ClickException(f"{email}: no demo account with a demo authenticator")
    click.echo(code)


def register(app: Flask) -> None:
    from .clocks.cli import clocks_cli
    from .keys import cli as keys_cli
    from .audit.cli import audit_cli
    from .auth.cli import users_cli
    from .network.cli import nodes_cli
    from .plan.cli import plan_cli
    from .workflow_cli import workflow_cli

    app.cli.add_command(clocks_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(nodes_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(worklists_cli)
    app.cli.add_command(plan_cli)
    app.cli.add_command(workflow_cli)
    keys_cli.register(app)
