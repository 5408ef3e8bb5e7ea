"""Where sealed files (case documents) are kept: a small interface, and a local folder behind it.

A blob is named by an opaque random id (`new_blob_id`): the path says nothing of the case, the person,
the file's name or kind. Blobs hold ciphertext only (`referral/vault/files.py`); an object store (S3,
MinIO, Azure Blob) can implement the same three calls.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

_BLOB_ID = re.compile(r"[0-9a-f]{32}")
WRITE_BUFFER = 1024 * 1024  # whole pages to the file system, whatever the size of the parts


class BlobMissing(Exception):
    """No blob by that id (erased, or never completely written)."""


class BlobStore(Protocol):
    def put(self, blob_id: str, parts: Iterable[bytes]) -> int:
        """Store the bytes of `parts` under `blob_id` (all or nothing); return how many were written."""

    def open(self, blob_id: str) -> BinaryIO:
        """A readable binary stream of the blob; BlobMissing if there is none."""

    def delete(self, blob_id: str) -> None:
        """Remove the blob if it exists."""

    def stored_before(self, cutoff: dt.datetime) -> Iterator[str]:
        """The ids of the blobs written before `cutoff` (the orphan sweep compares them with the database)."""


def new_blob_id() -> str:
    return secrets.token_hex(16)


class LocalFolderStore:
    """Blobs as files `root/ab/abcdef…` (two-letter fan-out), written to a temporary name, synced, renamed."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, blob_id: str) -> Path:
        if not _BLOB_ID.fullmatch(blob_id):
            raise BlobMissing()
        return self.root / blob_id[:2] / blob_id

    def put(self, blob_id: str, parts: Iterable[bytes]) -> int:
        path = self._path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(f".{blob_id}.{secrets.token_hex(4)}.part")
        written = 0
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb", buffering=WRITE_BUFFER) as handle:
                for part in parts:
                    handle.write(part)
                    written += len(part)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return written

    def open(self, blob_id: str) -> BinaryIO:
        try:
            return self._path(blob_id).open("rb")
        except FileNotFoundError:
            raise BlobMissing() from None

    def delete(self, blob_id: str) -> None:
        self._path(blob_id).unlink(missing_ok=True)

    def stored_before(self, cutoff: dt.datetime) -> Iterator[str]:
        """Blobs last written before `cutoff`; a partial file left by a crash mid-write (`.…part`) older than it
        is removed on the way, as nothing can ever read it."""
        limit = cutoff.timestamp()
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:  # deleted meanwhile
                    continue
                if modified >= limit:
                    continue
                if _BLOB_ID.fullmatch(path.name):
                    yield path.name
                elif path.name.endswith(".part"):
                    path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"LocalFolderStore({self.root})"
