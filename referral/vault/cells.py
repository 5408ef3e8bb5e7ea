"""Sealing values into database cells with a case's data key (AES-256-GCM with associated data).

A sealed cell is `0x02 ‖ key version (4 bytes) ‖ nonce (12) ‖ ciphertext`. The associated data
names the table, column and row the ciphertext belongs to, the case and the key version, so a
ciphertext copied into another row, column or case fails to open. The version in the header says
which of the case's data keys opens the cell, so a case key can be rotated cell by cell while the
application keeps serving.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionFailed

FORMAT_V1 = b"\x01"  # the first format: no version in the header (always key version 1)
FORMAT_V2 = b"\x02"
NONCE_BYTES = 12
PAD_TO = 32  # plaintext is padded to a multiple of this, so lengths leak less (a name's length)


@dataclass(frozen=True)
class Cell:
    """Where a ciphertext lives: table, column and row id."""

    table: str
    column: str
    row: uuid.UUID | int | str


def sealed_version(blob: bytes) -> int:
    """The case key version a sealed cell needs, read from its header (no key needed)."""
    if blob[:1] == FORMAT_V2 and len(blob) > 5:
        return int.from_bytes(blob[1:5], "big")
    if blob[:1] == FORMAT_V1:
        return 1
    raise DecryptionFailed("unknown ciphertext format")


class CaseCipher:
    """Seals and opens the cells of one case with one version of its data key."""

    def __init__(self, case_id: uuid.UUID, key_version: int, data_key: bytes):
        self.case_id = case_id
        self.key_version = key_version
        self._data_key = data_key  # kept only so the vault can wrap it for another node
        self._aead = AESGCM(data_key)

    def _associated(self, cell: Cell) -> bytes:
        return f"v1|{cell.table}|{cell.column}|{cell.row}|{self.case_id}|{self.key_version}".encode()

    def seal(self, value: Any, cell: Cell) -> bytes:
        """Encrypt a JSON-serialisable value for `cell`."""
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        plain += b" " * (-len(plain) % PAD_TO)
        nonce = os.urandom(NONCE_BYTES)
        header = FORMAT_V2 + self.key_version.to_bytes(4, "big")
        return header + nonce + self._aead.encrypt(nonce, plain, self._associated(cell))

    def open(self, blob: bytes, cell: Cell) -> Any:
        """Decrypt a cell sealed by `seal`; raise DecryptionFailed if it does not belong here."""
        if sealed_version(blob) != self.key_version:
            raise DecryptionFailed(f"{cell.table}.{cell.column}: sealed under another key version")
        start = 1 if blob[:1] == FORMAT_V1 else 5
        nonce, body = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, body, self._associated(cell))
        except InvalidTag:
            raise DecryptionFailed(f"{cell.table}.{cell.column}: ciphertext does not belong to this cell") from None
        return json.loads(plain)

    def __repr__(self) -> str:
        return f"CaseCipher(case={self.case_id}, version={self.key_version})"
