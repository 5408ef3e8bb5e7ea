"""Sealing values into database cells with a case's data key (AES-256-GCM with associated data).

The associated data names the table, column and row the ciphertext belongs to, the case and the
key version, so a ciphertext copied into another row, column or case fails to open.
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

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
PAD_TO = 32  # plaintext is padded to a multiple of this, so lengths leak less (a name's length)


@dataclass(frozen=True)
class Cell:
    """Where a ciphertext lives: table, column and row id."""

    table: str
    column: str
    row: uuid.UUID | int | str


class CaseCipher:
    """Seals and opens the cells of one case with its data key."""

    def __init__(self, case_id: uuid.UUID, key_version: int, data_key: bytes):
        self.case_id = case_id
        self.key_version = key_version
        self._aead = AESGCM(data_key)

    def _associated(self, cell: Cell) -> bytes:
        return f"v1|{cell.table}|{cell.column}|{cell.row}|{self.case_id}|{self.key_version}".encode()

    def seal(self, value: Any, cell: Cell) -> bytes:
        """Encrypt a JSON-serialisable value for `cell`."""
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        plain += b" " * (-len(plain) % PAD_TO)
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_V1 + nonce + self._aead.encrypt(nonce, plain, self._associated(cell))

    def open(self, blob: bytes, cell: Cell) -> Any:
        """Decrypt a cell sealed by `seal`; raise DecryptionFailed if it does not belong here."""
        if not blob or blob[:1] != FORMAT_V1:
            raise DecryptionFailed(f"{cell.table}.{cell.column}: unknown ciphertext format")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, body, self._associated(cell))
        except InvalidTag:
            raise DecryptionFailed(f"{cell.table}.{cell.column}: ciphertext does not belong to this cell") from None
        return json.loads(plain)

    def __repr__(self) -> str:
        return f"CaseCipher(case={self.case_id}, version={self.key_version})"
