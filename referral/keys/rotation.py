"""Key rotation in small committed batches: resumable, and the application keeps serving meanwhile.

The state of a rotation is the data itself (which master key wraps each node key, which node key
each wrap uses, which case key version each cell names), so an interrupted run is resumed by running
the same command again. Every batch is its own transaction; every row is rewritten with a
compare-and-swap UPDATE (`WHERE <column> = <what was read>`), so a concurrent change by a user is
never overwritten with stale content: the row is simply picked up again by the next pass.

Old keys are retired only when nothing uses them: a node's old private key is destroyed once no wrap
needs it; a case's old data key version loses its wraps once no cell names it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update

from ..auth.second_factor import master_keys_in_use as second_factor_master_keys
from ..auth.second_factor import rewrap_secrets as rewrap_second_factors
from ..cases.drafts import draft_master_keys, rewrap_drafts
from ..kernel.errors import CaseNotFound
from ..kernel.models import Case, CaseKey, FormRecord
from ..kernel.records import data_cell, details_cell, summary_cell
from ..kernel.attachment_models import CaseAttachment
from ..cases.attachments import data_cell as attachment_data_cell
from ..cases.attachments import key_cell as attachment_key_cell
from ..kernel.note_models import CaseNote
from ..kernel.meeting_models import CaseAgreement, CaseMeeting
from ..cases.meetings import agreement_cell, meeting_cell
from ..cases.notes import note_cell
from ..kernel.referral_models import Consent, EmergencyAccess, Referral
from ..context import Context
from ..vault import CaseCipher, Cell, sealed_version
from ..kernel.key_models import CaseKeyWrap, NodeKey, VaultSecret
from ..kernel.keystore import add_node_key, add_wrap, open_wrap, reader_nodes, stored, system_cipher

Units = Callable[[], AbstractContextManager[Context]]  # a fresh unit of work (session) per batch
Progress = Callable[[str], None]


@dataclass
class RotationReport:
    rewrapped: int = 0
    resealed: int = 0
    retired: list[str] = field(default_factory=list)  # what is no longer used by anything
    still_used: list[str] = field(default_factory=list)


# -- master key -------------------------------------------------------------------------------


def rotate_master(units: Units, *, batch: int = 200, progress: Progress = lambda _line: None) -> RotationReport:
    """Re-wrap every node private key and vault secret under the primary master key, and convert case
    keys stored under the first scheme (wrapped by the master key) into per-node wraps."""
    report = RotationReport()
    with units() as ctx:
        primary = ctx.vault.masters.key_id
        total = ctx.session.scalar(select(func.count()).select_from(NodeKey).where(
            NodeKey.private_wrapped.is_not(None), NodeKey.master_key_id != primary)) or 0
    progress(f"node keys to re-wrap under master {primary}: {total}")
    while True:
        with units() as ctx:
            rows = ctx.session.scalars(select(NodeKey).where(
                NodeKey.private_wrapped.is_not(None), NodeKey.master_key_id != primary)
                .order_by(NodeKey.id).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                fresh = ctx.vault.rewrap_node_key(stored(row))
                report.rewrapped += ctx.session.execute(
                    update(NodeKey).where(NodeKey.id == row.id, NodeKey.master_key_id == row.master_key_id)
                    .values(private_wrapped=fresh.private_wrapped, master_key_id=fresh.master_key_id)
                ).rowcount
            ctx.session.commit()
        progress(f"  node keys re-wrapped: {report.rewrapped}/{total}")
    with units() as ctx:
        for secret in ctx.session.scalars(select(VaultSecret).where(VaultSecret.master_key_id != primary)).all():
            wrapped, master_id = ctx.vault.rewrap_secret(secret.name, secret.wrapped, secret.master_key_id)
            secret.wrapped, secret.master_key_id = wrapped, master_id
            report.rewrapped += 1
            progress(f"  secret {secret.name} re-wrapped")
        ctx.session.commit()
    with units() as ctx:  # the people's authenticator secrets (second factor)
        moved = rewrap_second_factors(ctx.session, ctx.vault)
        ctx.session.commit()
        report.rewrapped += moved
        progress(f"  second-factor secrets re-wrapped: {moved}")
    with units() as ctx:  # the keys of unfinished Fichas (drafts), each bound to its author
        moved = rewrap_drafts(ctx)
        ctx.session.commit()
        report.rewrapped += moved
        progress(f"  draft keys re-wrapped: {moved}")
    _convert_first_scheme(units, batch, progress, report)
    with units() as ctx:
        used = master_keys_in_use(ctx)
        report.still_used = sorted(used - {primary})
        report.retired = sorted(set(ctx.vault.masters.previous_ids) - used)
    return report


def master_keys_in_use(ctx: Context) -> set[str]:
    """Master key ids that some stored wrap still needs."""
    used = set(ctx.session.scalars(select(NodeKey.master_key_id).where(NodeKey.private_wrapped.is_not(None))))
    used |= set(ctx.session.scalars(select(VaultSecret.master_key_id)))
    used |= set(ctx.session.scalars(select(CaseKey.master_key_id).where(CaseKey.wrapped.is_not(None))))
    used |= second_factor_master_keys(ctx.session)
    used |= draft_master_keys(ctx)
    return {key_id for key_id in used if key_id}


def _convert_first_scheme(units: Units, batch: int, progress: Progress, report: RotationReport) -> None:
    converted = 0
    while True:
        with units() as ctx:
            rows = ctx.session.scalars(select(CaseKey).where(CaseKey.wrapped.is_not(None)).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                cipher = system_cipher(ctx, row.case_id, row.version)
                for node_id in sorted(reader_nodes(ctx, row.case_id)):
                    add_wrap(ctx, cipher, node_id)
                row.wrapped, row.master_key_id = None, None
                converted += 1
            ctx.session.commit()
        progress(f"  case keys converted to per-node wraps: {converted}")
    report.rewrapped += converted


# -- node key pair ----------------------------------------------------------------------------


def rotate_node(units: Units, node_id: int, *, batch: int = 500,
                progress: Progress = lambda _line: None) -> RotationReport:
    """Give the node a new key pair, move every wrap to it, then destroy the old private key(s)."""
    report = RotationReport()
    with units() as ctx:
        retiring = ctx.session.scalars(select(NodeKey).where(
            NodeKey.node_id == node_id, NodeKey.status == "retiring")).all()
        if not retiring:  # not resuming: start a rotation
            old = ctx.session.scalars(select(NodeKey).where(
                NodeKey.node_id == node_id, NodeKey.status == "active")).all()
            last = ctx.session.scalar(select(func.max(NodeKey.version)).where(NodeKey.node_id == node_id)) or 0
            for row in old:
                row.status = "retiring"
            add_node_key(ctx, node_id, last + 1)
            ctx.session.commit()
            progress(f"node {node_id}: new key version {last + 1}")
        else:
            progress(f"node {node_id}: resuming an interrupted rotation")
        retiring_ids = list(ctx.session.scalars(select(NodeKey.id).where(
            NodeKey.node_id == node_id, NodeKey.status == "retiring")))
        total = ctx.session.scalar(select(func.count()).select_from(CaseKeyWrap).where(
            CaseKeyWrap.node_key_id.in_(retiring_ids))) or 0
    while True:
        with units() as ctx:
            newest = ctx.session.scalar(select(NodeKey).where(NodeKey.node_id == node_id, NodeKey.status == "active")
                                        .order_by(NodeKey.version.desc()).limit(1))
            assert newest is not None
            wraps = ctx.session.scalars(select(CaseKeyWrap).where(CaseKeyWrap.node_key_id.in_(retiring_ids))
                                        .order_by(CaseKeyWrap.id).limit(batch)).all()
            if not wraps:
                break
            for wrap in wraps:
                cipher = open_wrap(ctx, wrap)
                fresh = ctx.vault.wrap_case_key(cipher, node_id, newest.version, newest.public_key)
                report.rewrapped += ctx.session.execute(
                    update(CaseKeyWrap).where(CaseKeyWrap.id == wrap.id, CaseKeyWrap.node_key_id == wrap.node_key_id)
                    .values(node_key_id=newest.id, wrapped=fresh)).rowcount
            ctx.session.commit()
        progress(f"  wraps moved to the new key: {report.rewrapped}/{total}")
    with units() as ctx:
        for row in ctx.session.scalars(select(NodeKey).where(NodeKey.id.in_(retiring_ids))).all():
            still = ctx.session.scalar(select(func.count()).select_from(CaseKeyWrap)
                                       .where(CaseKeyWrap.node_key_id == row.id))
            if still:
                report.still_used.append(f"node {node_id} key v{row.version}")
                continue
            row.status, row.private_wrapped, row.master_key_id, row.retired_at = "retired", None, None, ctx.now()
            report.retired.append(f"node {node_id} key v{row.version}")
        ctx.session.commit()
    return report


# -- case data key ----------------------------------------------------------------------------


def rotate_case(units: Units, reference: str, *, batch: int = 100,
                progress: Progress = lambda _line: None) -> RotationReport:
    """Give the case a new data key, re-seal every cell under it, then delete the old key's wraps."""
    report = RotationReport()
    with units() as ctx:
        case = ctx.session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            raise CaseNotFound()
        case_id = case.id
        versions = {row.version: row.status for row in ctx.session.scalars(
            select(CaseKey).where(CaseKey.case_id == case_id))}
        if all(status == "active" for status in versions.values()) and len(versions) == 1:
            _start_case_rotation(ctx, case, max(versions) + 1)
            ctx.session.commit()
            progress(f"{reference}: new data key version {case.key_version}")
        else:
            progress(f"{reference}: resuming an interrupted rotation to version {case.key_version}")
    while True:
        with units() as ctx:
            case = ctx.session.get(Case, case_id)
            assert case is not None
            moved = _reseal_batch(ctx, case, batch)
            ctx.session.commit()
        report.resealed += moved
        progress(f"  cells re-sealed: {report.resealed}")
        if moved < batch:
            break
    with units() as ctx:
        # Writers claim the case row before they seal; holding it here, no cell can appear under an
        # old version between the last check and the deletion of the old wraps.
        case = ctx.session.scalar(select(Case).where(Case.id == case_id).with_for_update())
        assert case is not None
        if _stale_cells(ctx, case):
            report.still_used.append(f"{reference}: cells under an old version remain; run the command again")
            return report
        old = [v for v in ctx.session.scalars(select(CaseKey.version).where(
            CaseKey.case_id == case_id, CaseKey.version != case.key_version))]
        ctx.session.execute(delete(CaseKeyWrap).where(CaseKeyWrap.case_id == case_id,
                                                      CaseKeyWrap.key_version.in_(old)))
        ctx.session.execute(delete(CaseKey).where(CaseKey.case_id == case_id, CaseKey.version.in_(old)))
        ctx.session.commit()
        report.retired = [f"{reference} key v{v}" for v in old]
    return report


def _start_case_rotation(ctx: Context, case: Case, version: int) -> None:
    # Claim the case row first, as every writer does: a transition in flight (adding a participant)
    # commits before this goes on, and any later one finds the case changed. The version bump also
    # means a page opened before this moment cannot write cells under the old key after the
    # rotation has checked them (its action gets "the case changed").
    ctx.session.execute(update(Case).where(Case.id == case.id)
                        .values(key_version=version, version=Case.version + 1)
                        .execution_options(synchronize_session=False, worklist_cases=()))  # no worklist column
    ctx.session.expire(case)
    cipher = ctx.vault.new_case_key(case.id, version)
    ctx.ciphers[(case.id, version)] = cipher
    for row in ctx.session.scalars(select(CaseKey).where(CaseKey.case_id == case.id)):
        row.status = "retiring"
    ctx.session.add(CaseKey(case_id=case.id, version=version, status="active", created_at=ctx.now()))
    for node_id in sorted(reader_nodes(ctx, case.id)):  # read after the claim: includes that participant
        add_wrap(ctx, cipher, node_id)


def _stale_cells(ctx: Context, case: Case) -> list[tuple[type, object, str, bytes, Cell]]:
    """Every sealed cell of the case still under an older key version: (model, id, column, blob, cell)."""
    stale: list[tuple[type, object, str, bytes, Cell]] = []
    if case.summary is not None and sealed_version(case.summary) != case.key_version:
        stale.append((Case, case.id, "summary", case.summary, summary_cell(case)))
    for record in ctx.session.scalars(select(FormRecord).where(FormRecord.case_id == case.id)
                                      .order_by(FormRecord.created_at, FormRecord.id)).all():
        if sealed_version(record.data) != case.key_version:
            stale.append((FormRecord, record.id, "data", record.data, data_cell(record)))
    for note_id, blob in ctx.session.execute(select(CaseNote.id, CaseNote.data).where(CaseNote.case_id == case.id)
                                             .order_by(CaseNote.created_at, CaseNote.id)).all():
        if sealed_version(blob) != case.key_version:
            stale.append((CaseNote, note_id, "data", blob, note_cell(note_id)))
    for row_id, data, file_key in ctx.session.execute(  # documents: their metadata and the file's own key
            select(CaseAttachment.id, CaseAttachment.data, CaseAttachment.file_key)
            .where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.created_at, CaseAttachment.id)).all():
        if sealed_version(data) != case.key_version:
            stale.append((CaseAttachment, row_id, "data", data, attachment_data_cell(row_id)))
        if sealed_version(file_key) != case.key_version:
            stale.append((CaseAttachment, row_id, "file_key", file_key, attachment_key_cell(row_id)))
    for model, column, cell in ((CaseMeeting, "data", meeting_cell), (CaseMeeting, "minutes", meeting_cell),
                                (CaseAgreement, "data", agreement_cell), (CaseAgreement, "done_note", agreement_cell)):
        blobs = getattr(model, column)
        for row_id, blob in ctx.session.execute(select(model.id, blobs).where(
                model.case_id == case.id, blobs.is_not(None)).order_by(model.created_at, model.id)).all():
            if sealed_version(blob) != case.key_version:
                stale.append((model, row_id, column, blob, cell(row_id, column)))
    for model in (Referral, Consent, EmergencyAccess):  # the typed notes of the referral network
        for row_id, blob in ctx.session.execute(select(model.id, model.details).where(
                model.case_id == case.id, model.details.is_not(None)).order_by(model.id)).all():
            if sealed_version(blob) != case.key_version:
                stale.append((model, row_id, "details", blob, details_cell(model.__tablename__, row_id)))
    return stale


def _reseal_batch(ctx: Context, case: Case, batch: int) -> int:
    new = system_cipher(ctx, case.id, case.key_version)
    moved = 0
    for model, row_id, column, blob, cell in _stale_cells(ctx, case)[:batch]:
        old: CaseCipher = system_cipher(ctx, case.id, sealed_version(blob))
        fresh = new.seal(old.open(blob, cell), cell)
        table = model.__table__  # type: ignore[attr-defined]
        ctx.session.execute(update(table).where(table.c.id == row_id, table.c[column] == blob)
                            .values({column: fresh}))
        moved += 1
    return moved

