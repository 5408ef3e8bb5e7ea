"""`flask nodes import FILE` and `flask nodes export [FILE|-]`: the node directory as CSV (docs/network.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from sqlalchemy import select

from ..units import unit_of_work
from .directory import BadRegions, load_regions
from .models import Region
from .csvio import export_csv, import_csv, record_import

nodes_cli = AppGroup("nodes", help="The node directory as CSV: import (create or update by code) and export.")


@nodes_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--regions", "regions_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The country folder's regions.csv (code,name,short_name,neighbours; docs/countries.md) to load "
                   "first into an empty database.")
def import_nodes(file: Path, regions_file: Path | None) -> None:
    """Create or update the nodes of FILE (the directory's CSV, or the shared institutions file).

    Bad rows are printed to stderr as «línea N: motivo» and skipped; the good rows are saved. The
    exit status is 1 if any row was bad.
    """
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        if ctx.session.scalar(select(Region.code).limit(1)) is None:
            if regions_file is None:
                click.echo("La base de datos no tiene regiones: cárguelas con --regions workflows/<país>/regions.csv "
                           "(The database has no regions: load them with --regions workflows/<country>/regions.csv)",
                           err=True)
                raise click.exceptions.Exit(2)
            try:
                load_regions(ctx.session, regions_file)
            except BadRegions as bad:
                click.echo(f"regiones / regions: {bad}", err=True)
                raise click.exceptions.Exit(2) from None
        elif regions_file is not None:
            click.echo("Las regiones ya están cargadas; se ignora --regions.", err=True)
        result = import_csv(ctx.session, ctx.definition, file.read_bytes(), ctx.now())
        record_import(ctx, result)
        ctx.session.commit()
    for error in result.errors:
        click.echo(f"línea {error.line}: {error.reason.es}", err=True)
    click.echo(f"nodos creados: {result.created}, actualizados: {result.updated}, sin cambios: {result.unchanged}, "
               f"filas con errores: {len(result.bad_lines)}")
    if not result.ok:
        raise click.exceptions.Exit(1)


@nodes_cli.command("export")
@click.argument("file", default="-")
def export_nodes(file: str) -> None:
    """Write every node (active or not) as CSV to FILE, or to standard output with - (the default)."""
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        if file == "-":
            export_csv(ctx.session, sys.stdout)
            return
        try:
            with open(file, "w", encoding="utf-8", newline="") as out:
                count = export_csv(ctx.session, out)
        except OSError as error:
            click.echo(f"No se puede escribir {file}: {error.strerror} (Cannot write {file})", err=True)
            raise click.exceptions.Exit(1) from None
    click.echo(f"{count} nodos escritos en {file}", err=True)
