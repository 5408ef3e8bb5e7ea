"""`flask plan load FILE`: create or update a plan from its YAML file (idempotent); `flask plan deadlines`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ..units import unit_of_work
from .loading import PlanFileError, load_plan, read_plan_file
from .reading import plan_deadlines

plan_cli = AppGroup("plan", help="The Plan de Acción Nacional contra la Trata de Personas (docs/plan_accion.md).")


@plan_cli.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load(file: Path) -> None:
    """Create or update the plan of FILE by its keys: loading it twice changes nothing.

    The file wins for what it names: values edited in the application since are put back to the file's."""
    try:
        data = read_plan_file(file)
        with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
            plan, changed = load_plan(ctx, data)
            ctx.session.commit()
            click.echo(f"plan {plan.key}: {len(plan.ejes)} ejes, {changed} valores cambiados")
    except PlanFileError as error:
        click.echo(f"No se cargó el plan: {error}", err=True)
        raise click.exceptions.Exit(1) from None


@plan_cli.command("deadlines")
@click.option("--days", default=30, show_default=True, help="Metas due within this many days, and late ones.")
def deadlines(days: int) -> None:
    """List the actions not done whose meta is due within DAYS days or late (ids and codes only)."""
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        for due in plan_deadlines(ctx, ctx.local_now().date(), days):
            click.echo(f"{due.plan_key}\teje {due.eje_number}\t{due.code}\t{due.due_on}\t{due.reported or '-'}")
