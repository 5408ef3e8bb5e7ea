"""`flask --app wsgi workflow check | migrate`: the stored keys against the loaded definition
(referral/definition_check.py, docs/definition_changes.md).

Both run even when the application would refuse to start because of what they report (create_app skips its
start-up check for them)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .audit.service import record
from .cases.worklists import rebuild as rebuild_worklists
from .definition_check import Renames, key_problems, refusals, rename_keys, stamp_version, stored_key_problems
from .units import unit_of_work

workflow_cli = AppGroup("workflow", help="The workflow definition against the keys stored in the database.")

OPERATOR = "operador"  # the audit log's role for a command run on the server (as `flask keys`)


@workflow_cli.command("check")
def check_command() -> None:
    """List the stored keys the loaded definition lacks (and cases of another version); exit 1 if any."""
    with unit_of_work(current_app) as ctx:
        problems = stored_key_problems(ctx.session, ctx.definition)
        d = ctx.definition
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) against workflow '{d.key}' version {d.version}")
        raise SystemExit(1)
    click.echo(f"the database matches workflow '{d.key}' version {d.version}")


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise click.BadParameter(f"'{value}': expected OLD=NEW", param_hint=option)
        if old.strip() in pairs:
            raise click.BadParameter(f"'{old.strip()}' is renamed twice", param_hint=option)
        pairs[old.strip()] = new.strip()
    return pairs


def _track_pairs(values: tuple[str, ...]) -> dict[str, dict[str, str]]:
    tracks: dict[str, dict[str, str]] = {}
    for value in values:
        track, sep, pair = value.partition(":")
        if not sep or not track.strip():
            raise click.BadParameter(f"'{value}': expected TRACK:OLD=NEW", param_hint="--rename-track-state")
        tracks.setdefault(track.strip(), {}).update(_pairs((pair,), "--rename-track-state"))
    return tracks


@workflow_cli.command("migrate")
@click.option("--rename-state", multiple=True, metavar="OLD=NEW", help="A state of the case renamed.")
@click.option("--rename-track-state", multiple=True, metavar="TRACK:OLD=NEW", help="A state of a track renamed.")
@click.option("--rename-clock", multiple=True, metavar="OLD=NEW", help="A clock renamed.")
@click.option("--rename-form", multiple=True, metavar="OLD=NEW", help="A form renamed (its versions kept).")
@click.option("--yes", is_flag=True, help="Apply. Without it, a dry run: everything is done and rolled back.")
def migrate_command(rename_state: tuple[str, ...], rename_track_state: tuple[str, ...],
                    rename_clock: tuple[str, ...], rename_form: tuple[str, ...], yes: bool) -> None:
    """Rename stored keys to the loaded definition's, in one transaction, and record the definition's version on
    every case. Refused (nothing written) when a key would still be missing afterwards. Dry run unless --yes."""
    renames = Renames(states=_pairs(rename_state, "--rename-state"), track_states=_track_pairs(rename_track_state),
                      clocks=_pairs(rename_clock, "--rename-clock"), forms=_pairs(rename_form, "--rename-form"))
    with unit_of_work(current_app) as ctx:
        d = ctx.definition
        wrong = refusals(renames, d)
        if wrong:
            for line in wrong:
                click.echo(f"refused: {line}", err=True)
            raise SystemExit(1)
        counts = rename_keys(ctx.session, renames)
        # the worklists' rows are derived: computed again from the renamed cases and the loaded definition
        recomputed = rebuild_worklists(ctx.session, d)
        remaining = key_problems(stored_key_problems(ctx.session, d))
        if remaining:
            ctx.session.rollback()
            click.echo("refused, nothing written: after these renames the database would still hold keys the "
                       "definition lacks:", err=True)
            for problem in remaining:
                click.echo(f"  - {problem}", err=True)
            raise SystemExit(1)
        stamped = stamp_version(ctx.session, d)
        for label, count in sorted(counts.items()):
            click.echo(f"{label}: {count} row(s) renamed")
        click.echo(f"worklist rows computed again: {recomputed}")
        click.echo(f"cases stamped with workflow '{d.key}' version {d.version}: {stamped}")
        if not yes:
            ctx.session.rollback()
            click.echo("dry run: nothing written (add --yes to apply)")
            return
        record(ctx, "workflow.migrate", role=OPERATOR, details={
            "workflow": d.key, "version": d.version, "cases_stamped": stamped, "worklist_rows": recomputed, "rows": dict(sorted(counts.items())),
            "states": dict(renames.states), "track_states": {k: dict(v) for k, v in renames.track_states.items()},
            "clocks": dict(renames.clocks), "forms": dict(renames.forms)})
        ctx.session.commit()
        click.echo("applied")
