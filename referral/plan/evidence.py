"""Evidence documents of progress reports, sealed like case documents but under the plan module's key.

Plan data is not per case, so there is no case key: the plan module has one named root secret of the
installation (`plan-evidence`), kept wrapped by the master key in `vault_secrets` like the blind-index and
pseudonym keys (referral/kernel/keystore.py `vault_secret`; re-wrapped by `flask keys rotate-master`). Each file gets
its own random key, sealed under that secret and bound to its progress row (`evidence_key`); the content is
sealed in 64 KiB chunks under the file key (referral/vault/files.py) in the blob store under a random id; the
file name, type and size are sealed too (`evidence_data`). The type is read from the content, never the name.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..blobs import new_blob_id
from ..cases.attachments import TYPE_LABELS, blob_store, clean_name, discard_on_rollback, sniff
from ..kernel.errors import InvalidInput
from ..context import Context
from ..kernel.keystore import vault_secret
from ..vault import CHUNK, CaseCipher, Cell, FileCipher, new_file_key, read_full
from ..workflow import Text
from .models import Progress

PLAN_SECRET = "plan-evidence"
PLAN_SCOPE = uuid.UUID("5c0e6a52-8f1d-4c47-9a53-706c616e2d31")  # binds the plan key's cells to this module
FILE_KEY_VERSION = 1
MAX_MB = 10  # [producto] an acta or a signed guide as PDF; the form says so
MAX_BYTES = MAX_MB * 1024 * 1024
CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")

EMPTY_FILE = Text("El archivo está vacío.", "The file is empty.")
TOO_LARGE = Text(f"El archivo supera el tamaño máximo de {MAX_MB} MB.", f"The file exceeds the {MAX_MB} MB limit.")
WRONG_TYPE = Text("El contenido del archivo no es PDF, JPEG ni PNG, cualquiera sea su nombre. Elija otro archivo.",
                  "The file's content is not PDF, JPEG or PNG, whatever its name. Choose another file.")


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Evidence:
    name: str
    content_type: str
    size: int
    chunks: Iterator[bytes]


def plan_cipher(ctx: Context) -> CaseCipher:
    """The plan module's key, opened for this unit of work."""
    cipher = ctx.keycache.get(PLAN_SECRET)
    if cipher is None:
        cipher = ctx.keycache[PLAN_SECRET] = CaseCipher(PLAN_SCOPE, 1, vault_secret(ctx, PLAN_SECRET))
    return cipher


def _key_cell(progress_id: uuid.UUID) -> Cell:
    return Cell("plan_progress", "evidence_key", progress_id)


def _data_cell(progress_id: uuid.UUID) -> Cell:
    return Cell("plan_progress", "evidence_data", progress_id)


def seal_evidence(ctx: Context, row: Progress, filename: str, read: Callable[[int], bytes]) -> None:
    """Check the file (not empty, PDF/JPEG/PNG by content, at most MAX_MB), seal it into the blob store and
    its key and description into `row`. InvalidInput({"evidence": ...}) and nothing kept when refused."""
    head = read_full(read, CHUNK)
    if not head:
        raise InvalidInput({"evidence": [EMPTY_FILE]})
    content_type = sniff(head)
    if content_type not in CONTENT_TYPES:
        raise InvalidInput({"evidence": [WRONG_TYPE]})
    store, counted, pending = blob_store(ctx), [0], [head]

    def limited(size: int) -> bytes:
        data = pending.pop() if pending else read(size)
        counted[0] += len(data)
        if counted[0] > MAX_BYTES:
            raise _TooLarge()
        return data

    row.evidence_blob_id = new_blob_id()
    key = new_file_key()
    discard_on_rollback(ctx.session, store, [row.evidence_blob_id])
    try:
        store.put(row.evidence_blob_id, FileCipher(row.id, FILE_KEY_VERSION, key).seal(limited))
    except _TooLarge:
        store.delete(row.evidence_blob_id)
        raise InvalidInput({"evidence": [TOO_LARGE]}) from None
    cipher = plan_cipher(ctx)
    row.evidence_key = cipher.seal(base64.b64encode(key).decode(), _key_cell(row.id))
    row.evidence_data = cipher.seal({"name": clean_name(filename, content_type), "type": content_type,
                                     "size": counted[0]}, _data_cell(row.id))


def open_evidence(ctx: Context, row: Progress) -> Evidence:
    """The evidence of `row`: its name, type and a stream of its plaintext chunks."""
    assert row.evidence_blob_id and row.evidence_key and row.evidence_data
    cipher = plan_cipher(ctx)
    data = cipher.open(row.evidence_data, _data_cell(row.id))
    key = base64.b64decode(cipher.open(row.evidence_key, _key_cell(row.id)))
    file_cipher, store, blob_id = FileCipher(row.id, FILE_KEY_VERSION, key), blob_store(ctx), row.evidence_blob_id

    def chunks() -> Iterator[bytes]:
        with store.open(blob_id) as handle:
            yield from file_cipher.open(handle.read)
    return Evidence(str(data.get("name") or "evidencia"), str(data.get("type")), int(data.get("size") or 0), chunks())


def evidence_label(ctx: Context, row: Progress) -> str:
    """«acta.pdf (PDF)» for lists; empty when the report has no evidence."""
    if not row.evidence_data:
        return ""
    data = plan_cipher(ctx).open(row.evidence_data, _data_cell(row.id))
    return f"{data.get('name')} ({TYPE_LABELS.get(str(data.get('type')), '')})"
