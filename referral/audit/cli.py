"""`flask audit verify`: check the whole hash chain and name the first broken link."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ..units import unit_of_work
from .service import verify_log
from .verifying import default_workers

audit_cli = AppGroup("audit", help="The audit log: verify its hash chain.")


@audit_cli.command("verify")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes checking ranges of the chain at once (default: one per core).")
def verify_command(workers: int | None) -> None:
    """Recompute every link of the chain. Exit 0 if whole, 1 naming the first broken event.

    The chain is cut into contiguous ranges checked in parallel processes; the answer is the same
    as one process's (referral/audit/verifying.py)."""
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        count, broken = verify_log(ctx.session, workers=workers or default_workers())
    if broken is None:
        click.echo(f"cadena íntegra: {count} eventos verificados (chain intact: {count} events checked)")
        return
    click.echo(f"cadena rota en el evento {broken.seq}: {broken.reason} "
               f"(chain broken at event {broken.seq})", err=True)
    raise click.exceptions.Exit(1)
