"""Per-case data keys: created at intake, wrapped by the master key, unwrapped to a CaseCipher."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from .cells import CaseCipher
from .keys import KEY_BYTES, MasterKey


@dataclass(frozen=True)
class WrappedCaseKey:
    """A case's data key as stored: wrapped under the master key named by `master_key_id`."""

    case_id: uuid.UUID
    version: int
    master_key_id: str
    wrapped: bytes


class Vault:
    """Intent-named operations on case keys; holds the master key, never a case key for long."""

    def __init__(self, master: MasterKey):
        self.master = master

    @staticmethod
    def _context(case_id: uuid.UUID, version: int, master_key_id: str) -> bytes:
        return f"case-key|{case_id}|{version}|{master_key_id}".encode()

    def new_case_key(self, case_id: uuid.UUID) -> tuple[WrappedCaseKey, CaseCipher]:
        """Create the data key of a new case; return it wrapped (to store) and ready (to use)."""
        data_key = os.urandom(KEY_BYTES)
        version = 1
        wrapped = self.master.wrap(data_key, self._context(case_id, version, self.master.key_id))
        return WrappedCaseKey(case_id, version, self.master.key_id, wrapped), CaseCipher(case_id, version, data_key)

    def open_case_key(self, stored: WrappedCaseKey) -> CaseCipher:
        """Unwrap a stored case key; raise DecryptionFailed if it is not this master key's."""
        data_key = self.master.unwrap(stored.wrapped, self._context(stored.case_id, stored.version,
                                                                     stored.master_key_id))
        return CaseCipher(stored.case_id, stored.version, data_key)
