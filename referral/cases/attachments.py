"""Case documents: files encrypted under the case's key material, streamed in and out chunk by chunk.

The kinds, who uploads, who reads each kind, the content types taken and the size limit are the
workflow's (`attachments:`). Each file gets its own random key, sealed under the case key like every
other cell (`file_key`); its content is sealed in 64 KiB chunks under that key (referral/vault/files.py)
and kept in the blob store under a random id. The kind and file name are sealed too (`data`). The type
is recognised from the content (`filetype`), never from the name or what the browser says. Every
download is an audit event (ids only).
"""

from __future__ import annotations

import datetime as dt

import base64
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import filetype
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit.service import record as audit
from ..auth.models import User
from ..blobs import BlobStore, new_blob_id
from ..context import Context
from ..plan.models import Progress
from ..kernel.keystore import open_cell, seal_cell
from ..vault import CHUNK, Cell, FileCipher, new_file_key, read_full
from ..workflow import Text
from ..workflow.attachments import KNOWN_TYPES, AttachmentsDef
from ..kernel.access import open_case
from ..kernel.attachment_models import CaseAttachment
from ..kernel.errors import AccessDenied, CaseError, CaseNotFound, InvalidInput
from ..kernel.models import Case

MAX_NAME = 200
FILE_KEY_VERSION = 1
TYPE_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}

REQUIRED_FILE = Text("Elija el archivo que quiere adjuntar.", "Choose the file to attach.")
UNKNOWN_CHOICE = Text("Elija una opción de la lista.", "Choose an option from the list.")
EMPTY_FILE = Text("El archivo está vacío.", "The file is empty.")


def wrong_type(allowed: Iterable[str]) -> Text:
    names = ", ".join(TYPE_LABELS.get(t, t) for t in allowed)
    return Text(f"El contenido del archivo no es de un tipo permitido ({names}), cualquiera sea su nombre. "
                "Elija otro archivo.",
                f"The file's content is not of an allowed type ({names}), whatever its name. Choose another file.")


def too_large(max_mb: int) -> Text:
    return Text(f"El archivo supera el tamaño máximo de {max_mb} MB.", f"The file exceeds the {max_mb} MB limit.")


class AttachmentAlreadyRecorded(CaseError):
    """The same upload page was sent twice (a double click): the first one was stored."""

    message = Text("Este documento ya fue adjuntado.", "This document was already attached.")


class _TooLarge(Exception):
    pass


def data_cell(attachment_id: uuid.UUID) -> Cell:
    return Cell("case_attachments", "data", attachment_id)


def key_cell(attachment_id: uuid.UUID) -> Cell:
    return Cell("case_attachments", "file_key", attachment_id)


@dataclass(frozen=True)
class UploadInput:
    kind: str
    shared_with: tuple[str, ...]
    filename: str
    read: Callable[[int], bytes] | None  # the uploaded file, read in chunks; None when no file was chosen


@dataclass(frozen=True)
class AttachmentView:
    id: str
    kind_label: str
    name: str
    type_label: str
    size: str
    author_node: str
    uploaded_at: str
    shared_with: tuple[str, ...]
    own: bool


@dataclass(frozen=True)
class AttachmentsSection:
    label: str
    attachments: tuple[AttachmentView, ...]
    may_upload: bool


@dataclass(frozen=True)
class Download:
    name: str
    content_type: str
    size: int
    chunks: Iterator[bytes]


def attachments_def(ctx: Context) -> AttachmentsDef:
    if ctx.definition.attachments is None:
        raise CaseNotFound()
    return ctx.definition.attachments


def blob_store(ctx: Context) -> BlobStore:
    if ctx.blobs is None:
        raise RuntimeError("this unit of work has no blob store (Context.blobs)")
    return ctx.blobs


def may_upload(ctx: Context, relations: Iterable[str]) -> bool:
    attachments = ctx.definition.attachments
    return attachments is not None and bool(set(relations) & set(attachments.uploaders))


def open_for_upload(ctx: Context, user: User, reference: str) -> tuple[Case, frozenset[str]]:
    """The case and the uploader's relations; AccessDenied unless one of them may upload."""
    attachments_def(ctx)
    case, actor = open_case(ctx, user, reference)
    if not may_upload(ctx, actor.relations):
        raise AccessDenied()
    return case, actor.relations


def clean_name(name: str, content_type: str) -> str:
    """The base name a browser sent, without folders or control characters, with the extension of its
    real type (what it is, not what it claimed)."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C").strip()
    stem = base.rsplit(".", 1)[0].strip() if "." in base else base
    extension = KNOWN_TYPES.get(content_type, "bin")
    return f"{(stem or 'documento')[:MAX_NAME]}.{extension}"


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file show (magic numbers), or None."""
    guessed = filetype.guess_mime(head)
    return str(guessed) if guessed else None


def validate(ctx: Context, values: UploadInput) -> dict[str, list[Text]]:
    attachments = attachments_def(ctx)
    errors: dict[str, list[Text]] = {}
    if values.kind not in attachments.kinds:
        errors["kind"] = [UNKNOWN_CHOICE]
    if set(values.shared_with) - set(attachments.share_with):
        errors["shared_with"] = [UNKNOWN_CHOICE]
    if values.read is None or not values.filename.strip():
        errors["file"] = [REQUIRED_FILE]
    return errors


def record_attachment(ctx: Context, user: User, reference: str, values: UploadInput, token: str) -> CaseAttachment:
    """Check, seal and store one document. Raise AccessDenied, InvalidInput (with the field's message),
    AttachmentAlreadyRecorded (the same page sent twice). Flushes; the caller commits. The blob written
    is deleted again if this unit of work rolls back."""
    case, _relations = open_for_upload(ctx, user, reference)
    attachments = attachments_def(ctx)
    if not token or len(token) > 64:
        raise InvalidInput({"token": [REQUIRED_FILE]})
    errors = validate(ctx, values)
    if errors:
        raise InvalidInput(errors)
    assert values.read is not None
    if ctx.session.scalar(select(CaseAttachment.id).where(CaseAttachment.token == token)) is not None:
        raise AttachmentAlreadyRecorded()
    head = read_full(values.read, CHUNK)
    if not head:
        raise InvalidInput({"file": [EMPTY_FILE]})
    content_type = sniff(head)
    if content_type not in attachments.content_types:
        raise InvalidInput({"file": [wrong_type(attachments.content_types)]})
    row = CaseAttachment(id=uuid.uuid4(), case_id=case.id, author_user_id=user.id, author_node_id=user.node_id,
                         shared_with=attachments.shared_for(values.kind, values.shared_with), token=token,
                         blob_id=new_blob_id(), key_version=FILE_KEY_VERSION, created_at=ctx.now())
    key = new_file_key()
    size = _store(ctx, row, key, _joined(head, values.read), attachments)
    row.file_key = seal_cell(ctx, case, base64.b64encode(key).decode(), key_cell(row.id))
    row.data = seal_cell(ctx, case, {"kind": values.kind, "name": clean_name(values.filename, content_type),
                                     "type": content_type, "size": size}, data_cell(row.id))
    try:  # of two clicks at once, the second waits on the token's unique index and stops here
        with ctx.session.begin_nested():
            ctx.session.add(row)
    except IntegrityError:
        raise AttachmentAlreadyRecorded() from None
    audit(ctx, "attachment.create", role=user.role, node_id=user.node_id, case_id=case.id, subject=str(row.id))
    ctx.session.flush()
    return row


def _joined(head: bytes, read: Callable[[int], bytes]) -> Callable[[int], bytes]:
    pending = [head]

    def read_next(size: int) -> bytes:
        if pending:
            first = pending.pop()
            return first + read_full(read, size - len(first)) if len(first) < size else first
        return read(size)
    return read_next


def _store(ctx: Context, row: CaseAttachment, key: bytes, read: Callable[[int], bytes],
           attachments: AttachmentsDef) -> int:
    """Seal the stream into the blob store; return the plaintext size. Too large: nothing kept."""
    store, counted = blob_store(ctx), [0]

    def limited(size: int) -> bytes:
        data = read(size)
        counted[0] += len(data)
        if counted[0] > attachments.max_bytes:
            raise _TooLarge()
        return data

    discard_on_rollback(ctx.session, store, [row.blob_id])
    try:
        store.put(row.blob_id, FileCipher(row.id, row.key_version, key).seal(limited))
    except _TooLarge:
        store.delete(row.blob_id)
        raise InvalidInput({"file": [too_large(attachments.max_mb)]}) from None
    return counted[0]


def discard_on_rollback(session: Session, store: BlobStore, blob_ids: list[str]) -> None:
    """Delete these blobs if the unit of work is rolled back (an upload that did not happen)."""
    done = [False]

    def committed(_session: Session) -> None:
        done[0] = True

    def rolled_back(_session: Session) -> None:
        if not done[0]:
            for blob_id in blob_ids:
                store.delete(blob_id)
    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)


def delete_after_commit(session: Session, store: BlobStore, blob_ids: list[str]) -> None:
    """Delete these blobs once the unit of work commits (an erasure that happened)."""
    if not blob_ids:
        return

    def committed(_session: Session) -> None:
        for blob_id in blob_ids:
            store.delete(blob_id)
    event.listen(session, "after_commit", committed, once=True)


# -- reading --------------------------------------------------------------------------------


def readable_attachments(ctx: Context, user: User, case: Case, relations: frozenset[str]) -> list[CaseAttachment]:
    """The documents of the case this user's node may read, newest first (nothing is decrypted here)."""
    attachments = ctx.definition.attachments
    if attachments is None:
        return []
    rows = ctx.session.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case.id)
                               .order_by(CaseAttachment.created_at.desc(), CaseAttachment.id))
    return [row for row in rows
            if attachments.readable_by(row.author_node_id, row.shared_with, user.node_id, relations)]


def case_attachments(ctx: Context, user: User, reference: str, language: str) -> AttachmentsSection | None:
    """The case page's documents section (None when the workflow has none); the documents listed are an
    audit event (their ids only). Flushes."""
    case, actor = open_case(ctx, user, reference)
    attachments = ctx.definition.attachments
    if attachments is None:
        return None
    views = tuple(_view(ctx, case, row, attachments, user, language)
                  for row in readable_attachments(ctx, user, case, actor.relations))
    if views:
        audit(ctx, "read", role=user.role, node_id=user.node_id, case_id=case.id,
              details={"page": "attachments", "attachments": [view.id for view in views]})
    return AttachmentsSection(attachments.label.get(language), views, may_upload(ctx, actor.relations))


def _size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")
    return f"{max(1, round(size / 1024))} KB"


def _view(ctx: Context, case: Case, row: CaseAttachment, attachments: AttachmentsDef, user: User,
          language: str) -> AttachmentView:
    content: Mapping[str, Any] = open_cell(ctx, case, row.data, data_cell(row.id))
    kind = attachments.kinds.get(str(content.get("kind")))
    relations = ctx.definition.relations
    return AttachmentView(
        id=str(row.id), kind_label=kind.label.get(language) if kind else str(content.get("kind")),
        name=str(content.get("name") or ""), type_label=TYPE_LABELS.get(str(content.get("type")), ""),
        size=_size_label(int(content.get("size") or 0)), author_node=row.author_node.short_name,
        uploaded_at=row.created_at.astimezone(ctx.timezone).strftime("%d-%m-%Y %H:%M"),
        shared_with=tuple(relations[r].label.get(language) for r in row.shared_with if r in relations),
        own=row.author_node_id == user.node_id,
    )


def open_download(ctx: Context, user: User, reference: str, attachment_id: str) -> Download:
    """One document for this user: its name, type and a stream of its plaintext chunks. The download is
    an audit event (ids only). Raise CaseNotFound (no such document, or one this node may not read: the
    same answer), AccessDenied. Flushes; the caller commits before streaming."""
    case, actor = open_case(ctx, user, reference)
    attachments = attachments_def(ctx)
    try:
        wanted = uuid.UUID(attachment_id)
    except ValueError:
        raise CaseNotFound() from None
    row = ctx.session.scalar(select(CaseAttachment).where(CaseAttachment.id == wanted,
                                                          CaseAttachment.case_id == case.id))
    if row is None or not attachments.readable_by(row.author_node_id, row.shared_with, user.node_id, actor.relations):
        raise CaseNotFound()
    content: Mapping[str, Any] = open_cell(ctx, case, row.data, data_cell(row.id))
    key = base64.b64decode(open_cell(ctx, case, row.file_key, key_cell(row.id)))
    audit(ctx, "attachment.download", role=user.role, node_id=user.node_id, case_id=case.id, subject=str(row.id))
    return Download(name=str(content.get("name") or "documento"), content_type=str(content.get("type")),
                    size=int(content.get("size") or 0), chunks=_plaintext(FileCipher(row.id, row.key_version, key),
                                                                         blob_store(ctx), row.blob_id))


def _plaintext(cipher: FileCipher, store: BlobStore, blob_id: str) -> Iterator[bytes]:
    """The plaintext chunk by chunk; the blob is opened on the first chunk asked for, closed after the last."""
    with store.open(blob_id) as handle:
        yield from cipher.open(handle.read)


def form_choices(ctx: Context, language: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(kind choices, sharing choices) for the upload form."""
    attachments = attachments_def(ctx)
    relations = ctx.definition.relations
    return ([(key, kind.label.get(language)) for key, kind in attachments.kinds.items()],
            [(key, relations[key].label.get(language)) for key in attachments.share_with])


def kind_readers(ctx: Context, language: str) -> list[tuple[str, str]]:
    """(kind label, the relations that always read it) for the upload page's explanation."""
    attachments = attachments_def(ctx)
    relations = ctx.definition.relations
    return [(kind.label.get(language), ", ".join(relations[r].label.get(language) for r in kind.readers
                                                  if r in relations)) for kind in attachments.kinds.values()]


ORPHAN_BATCH = 500


def orphan_blobs(ctx: Context, older_than: dt.timedelta) -> list[str]:
    """Blobs in the store that no document row (case document or plan evidence) names, written more than `older_than` ago: left by a crash
    between writing a blob and committing its row (its file key was never stored, so it is unreadable), or by
    an erasure whose deletion did not finish. Younger blobs may be uploads in flight and are left alone."""
    store = blob_store(ctx)
    candidates = list(store.stored_before(ctx.now() - older_than))
    known: set[str] = set()
    for first in range(0, len(candidates), ORPHAN_BATCH):
        batch = candidates[first:first + ORPHAN_BATCH]
        known.update(ctx.session.scalars(select(CaseAttachment.blob_id).where(CaseAttachment.blob_id.in_(batch))))
        # the Plan de Acción's evidence documents share the store (referral/plan/evidence.py)
        known.update(ctx.session.scalars(select(Progress.evidence_blob_id).where(Progress.evidence_blob_id.in_(batch))))
    return [blob_id for blob_id in candidates if blob_id not in known]


def blobs_of_case(ctx: Context, case_id: uuid.UUID) -> list[str]:
    return list(ctx.session.scalars(select(CaseAttachment.blob_id).where(CaseAttachment.case_id == case_id)))
