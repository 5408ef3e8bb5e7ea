"""`flask keys ...` (status and rotation) and `flask cases erase` (crypto-shredding), for operators.

Rotation commands work in committed batches and print progress; if interrupted, run the same
command again and it resumes. The application keeps serving throughout.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..audit.service import record
from ..auth.models import User
from ..cases.attachments import blob_store, orphan_blobs
from ..cases.erasure import ERASED_TABLES, REASONS, erase_case
from ..kernel.errors import CaseError, InvalidInput
from ..kernel.models import Case, CaseKey
from ..db import scrub_freed_space
from ..extensions import database
from ..network.models import Node
from ..units import unit_of_work
from ..vault import generate_secret, load_master_key, load_master_keyring, write_key_file
from ..kernel.key_models import CaseKeyWrap, NodeKey
from .rotation import RotationReport, master_keys_in_use, rotate_case, rotate_master, rotate_node

keys_cli = AppGroup("keys", help="Encryption keys: status and rotation (see docs/encryption.md).")
cases_cli = AppGroup("cases", help="Case maintenance: erasure (crypto-shredding).")


def _units():  # type: ignore[no-untyped-def]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return lambda: unit_of_work(app)


OPERATOR = "operador"  # the audit log's role for a command run on the server


def _audit(action: str, report: RotationReport | None = None, *, node_id: int | None = None,
           case_id: uuid.UUID | None = None, **details: object) -> None:
    """A key operation is an audit event (docs/audit.md): what, on which node or case (pseudonym), counts."""
    from ..audit.service import record

    if report is not None:
        details.update(rewrapped=report.rewrapped, resealed=report.resealed, retired=len(report.retired),
                       still_used=len(report.still_used))
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        record(ctx, action, role=OPERATOR, node_id=node_id, case_id=case_id, details=details)
        ctx.session.commit()


def _show(report: RotationReport) -> None:
    click.echo(f"re-wrapped: {report.rewrapped}, re-sealed: {report.resealed}")
    for item in report.retired:
        click.echo(f"retired (nothing uses it any more): {item}")
    for item in report.still_used:
        click.echo(f"still in use: {item}", err=True)
    if report.still_used:
        raise click.exceptions.Exit(1)


@keys_cli.command("status")
def status() -> None:
    """Master keys in use, node keys, case key versions and rotations in progress."""
    masters = current_app.extensions["referral.vault"].masters
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        used = master_keys_in_use(ctx)
        click.echo(f"primary master key: {masters.key_id}")
        for key_id in masters.previous_ids:
            click.echo(f"previous master key: {key_id} ({'still used' if key_id in used else 'unused: may be removed'})")
        for key_id in sorted(used - {masters.key_id} - set(masters.previous_ids)):
            click.echo(f"MISSING master key {key_id}: some wraps need it", err=True)
        by_status = dict(ctx.session.execute(select(NodeKey.status, func.count()).group_by(NodeKey.status)).all())
        click.echo(f"node keys: {by_status}")
        click.echo(f"case key wraps: {ctx.session.scalar(select(func.count()).select_from(CaseKeyWrap))}")
        rotating = ctx.session.scalar(select(func.count(func.distinct(CaseKey.case_id)))
                                      .where(CaseKey.status == "retiring")) or 0
        legacy = ctx.session.scalar(select(func.count()).select_from(CaseKey).where(CaseKey.wrapped.is_not(None))) or 0
        click.echo(f"cases with a key rotation in progress: {rotating}")
        if legacy:
            click.echo(f"case keys under the first scheme (run rotate-master to convert): {legacy}")


@keys_cli.command("new-master")
def new_master() -> None:
    """Development key files only: make a new primary master key; the current one becomes a previous key.

    Then restart the application and run `flask keys rotate-master`. With REFERRAL_MASTER_KEY
    (production), set the new key there and the old one in REFERRAL_PREVIOUS_MASTER_KEYS instead.
    """
    config = current_app.config
    if config.get("MASTER_KEY"):
        raise click.ClickException("the master key comes from REFERRAL_MASTER_KEY: set the new key there, "
                                   "and the current one in REFERRAL_PREVIOUS_MASTER_KEYS")
    path, previous = Path(config["MASTER_KEY_FILE"]), Path(config["PREVIOUS_MASTER_KEYS_FILE"])
    current = path.read_text().strip()
    kept = previous.read_text().split() if previous.is_file() else []
    write_key_file(previous, "\n".join([*kept, current]))
    write_key_file(path, generate_secret())
    ring = load_master_keyring(None, path, None, previous, create=False)
    _audit("keys.new_master", key_id=ring.key_id)
    click.echo(f"new primary master key {ring.key_id}; previous keys: {', '.join(ring.previous_ids)}")
    click.echo("restart every application process, then run: flask keys rotate-master")


@keys_cli.command("rotate-master")
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--quiet", is_flag=True, help="Print nothing when there is nothing to do (for start-up scripts).")
def rotate_master_command(batch: int, quiet: bool) -> None:
    """Re-wrap every node key and secret under the primary master key; retire unused previous keys."""
    lines: list[str] = []
    report = rotate_master(_units(), batch=batch, progress=lines.append if quiet else click.echo)
    if quiet and not (report.rewrapped or report.retired or report.still_used):
        return
    _audit("keys.rotate_master", report)
    for line in lines:
        click.echo(line)
    config = current_app.config
    previous = Path(config["PREVIOUS_MASTER_KEYS_FILE"])
    if report.retired and not config.get("PREVIOUS_MASTER_KEYS") and previous.is_file():
        masters = current_app.extensions["referral.vault"].masters
        keep = [text for text in previous.read_text().split()
                if load_master_key(text, previous, create=False).key_id not in report.retired]
        write_key_file(previous, "\n".join(keep))
        click.echo(f"removed from {previous.name}: {', '.join(report.retired)} (primary: {masters.key_id})")
    elif report.retired:
        click.echo("remove these from REFERRAL_PREVIOUS_MASTER_KEYS: " + ", ".join(report.retired))
    _show(report)


@keys_cli.command("rotate-node")
@click.argument("node_code")
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True)
def rotate_node_command(node_code: str, batch: int) -> None:
    """Give node NODE_CODE a new key pair and move every wrap to it; destroy the old private key."""
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        node_id = ctx.session.scalar(select(Node.id).where(Node.code == node_code))
    if node_id is None:
        raise click.ClickException(f"no node with code {node_code}")
    report = rotate_node(_units(), node_id, batch=batch, progress=click.echo)
    _audit("keys.rotate_node", report, node_id=node_id)
    _show(report)


@keys_cli.command("rotate-case")
@click.argument("reference")
@click.option("--batch", type=click.IntRange(1, 10_000), default=100, show_default=True)
def rotate_case_command(reference: str, batch: int) -> None:
    """Give case REFERENCE a new data key, re-seal all its cells, delete the old key's wraps."""
    try:
        report = rotate_case(_units(), reference.strip().upper(), batch=batch, progress=click.echo)
    except CaseError as error:
        raise click.ClickException(error.message.en or error.message.es) from None
    with unit_of_work(current_app._get_current_object()) as ctx:  # type: ignore[attr-defined]
        case_id = ctx.session.scalar(select(Case.id).where(Case.reference == reference.strip().upper()))
    _audit("keys.rotate_case", report, case_id=case_id)
    _show(report)


@cases_cli.command("erase")
@click.argument("reference")
@click.option("--reason", type=click.Choice(sorted(REASONS)), required=True,
              help="retencion | solicitud_titular | orden_judicial | ingreso_erroneo")
@click.option("--by", "email", required=True, help="E-mail of the administrator who decides the erasure.")
@click.option("--yes", is_flag=True, help="Do not ask to type the reference again.")
def erase(reference: str, reason: str, email: str, yes: bool) -> None:
    """Erase case REFERENCE for good (crypto-shredding); a tombstone without personal data remains."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    confirmation = reference if yes else click.prompt("type the reference again to confirm")
    with unit_of_work(app) as ctx:
        user = ctx.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user {email}")
        try:
            tombstone = erase_case(ctx, user, reference, reason, confirmation)
        except InvalidInput as error:
            raise click.ClickException("; ".join(m.en or m.es for ms in error.errors.values() for m in ms)) from None
        except CaseError as error:
            raise click.ClickException(error.message.en or error.message.es) from None
        ctx.session.commit()
    click.echo(f"{tombstone.reference} erased ({tombstone.reason}); its keys are destroyed")
    _scrub(app)


@cases_cli.command("orphan-files")
@click.option("--older-than-hours", type=click.IntRange(1, 24 * 365), default=24, show_default=True,
              help="Only files written before this many hours ago (younger ones may be uploads in flight).")
@click.option("--delete", is_flag=True, help="Delete them (without it, only count them).")
def orphan_files(older_than_hours: int, delete: bool) -> None:
    """Count (or delete) stored document files that no case document names: ciphertext nothing can read."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with unit_of_work(app) as ctx:
        orphans = orphan_blobs(ctx, dt.timedelta(hours=older_than_hours))
        if delete:
            for blob_id in orphans:
                blob_store(ctx).delete(blob_id)
            record(ctx, "attachments.orphans_deleted", details={"count": len(orphans)})
            ctx.session.commit()
    click.echo(f"{len(orphans)} orphan file(s) {'deleted' if delete else 'found (run with --delete to remove them)'}")


@cases_cli.command("scrub")
@click.option("--wait", type=click.IntRange(0, 3600), default=60, show_default=True, help="Seconds to wait for readers.")
def scrub(wait: int) -> None:
    """Overwrite what erased cases left in the database files (after a backup that blocked it ended)."""
    _scrub(current_app._get_current_object(), wait * 1000)  # type: ignore[attr-defined]


def _scrub(app, wait_ms: int = 3000) -> None:  # type: ignore[no-untyped-def]
    if scrub_freed_space(database.engine(app), ERASED_TABLES, wait_ms):
        click.echo("database files scrubbed: no copy of erased rows remains in them")
        return
    click.echo("WARNING: another process (a backup?) is reading the database, so the file still holds the "
               "erased rows' old pages. Run `flask --app wsgi cases scrub` when it has finished.", err=True)
    raise click.exceptions.Exit(3)


def register(app) -> None:  # type: ignore[no-untyped-def]
    app.cli.add_command(keys_cli)
    app.cli.add_command(cases_cli)

