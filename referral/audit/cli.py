"""`flask audit verify`: check the whole hash chain and name the first broken link."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ..units import unit_of_work
from .service import verify_log

audit_cli = AppGroup("audit", help="The audit log: verify its hash chain.")


@audit_cli.command("verify")
def verify_command() -> None:
    """Recompute every link of the chain. Exit 0 if whole, 1 naming the first broken event."""
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        count, broken = verify_log(ctx.session)
    if broken is None:
        click.echo(f"cadena íntegra: {count} eventos verificados (chain intact: {count} events checked)")
        return
    click.echo(f"cadena rota en el evento {broken.seq}: {broken.reason} "
               f"(chain broken at event {broken.seq})", err=True)
    raise click.exceptions.Exit(1)
