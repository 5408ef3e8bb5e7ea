"""A plaintext stand-in for the vault, the baseline of `bench/encryption.py` and `bench/web.py`; never in the product.

`PlainVault` duck-types `referral.vault.Vault` and `PlainCipher` duck-types `referral.vault.CaseCipher`:
every caller (`referral.kernel.keystore`, the case services, the views) runs exactly as with the real vault:
node key rows, per-node wrap rows, sealed cells with the v2 header, JSON serialised and padded the same
way. Only the cryptography is skipped: a cell is `0x02 ‖ key version (4 bytes) ‖ padded JSON`, key pairs
and wraps are fixed placeholders, so the difference between the two runs is the cost of encryption.

`plain_app` is the application with the stand-in in place before anything is written (`bench/web.py`: its
build and its signing in, and behind gunicorn through `bench/plain_wsgi.py`; `bench/support.build_app` does
the same for SQLite). Nothing in `referral/` imports `bench/`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

from flask import Flask

from referral import create_app
from referral.vault import Cell, DecryptionFailed, StoredNodeKey, sealed_version
from referral.vault.cells import FORMAT_V2, PAD_TO

PLACEHOLDER_PUBLIC_KEY = b"0" * 32
PLACEHOLDER_WRAP = b""
PLACEHOLDER_SECRET = b"\x00" * 32  # the blind-index root secret (the HMAC itself still runs)
_HEADER_BYTES = 5


class PlainCipher:
    """Seals and opens cells like `CaseCipher`, header and padding included, without encrypting."""

    def __init__(self, case_id: uuid.UUID, key_version: int):
        self.case_id = case_id
        self.key_version = key_version

    def seal(self, value: Any, cell: Cell) -> bytes:
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        plain += b" " * (-len(plain) % PAD_TO)
        return FORMAT_V2 + self.key_version.to_bytes(4, "big") + plain

    def open(self, blob: bytes, cell: Cell) -> Any:
        if sealed_version(blob) != self.key_version:
            raise DecryptionFailed(f"{cell.table}.{cell.column}: sealed under another key version")
        return json.loads(blob[_HEADER_BYTES:])

    def __repr__(self) -> str:
        return f"PlainCipher(case={self.case_id}, version={self.key_version})"


@dataclass(frozen=True)
class PlainNodeKey:
    """Stands for an opened `NodePrivateKey`: which node key it is, and no key."""

    node_id: int
    version: int


@dataclass(frozen=True)
class PlainKeyring:
    """Stands for `MasterKeyring`: which key is primary, and a wrap that keeps the data as it is."""

    key_id: str = "plaintext-baseline"
    previous_ids: list[str] = field(default_factory=list)

    # Second-factor secrets of the demo accounts are wrapped by the master keyring itself: here, kept as
    # they are (a throw-away baseline database).
    @staticmethod
    def wrap(data: bytes, context: bytes) -> bytes:
        return data

    @staticmethod
    def unwrap(blob: bytes, context: bytes, key_id: str) -> bytes:
        return blob


class PlainVault:
    """The `Vault` interface, method for method, with placeholders instead of keys and ciphertexts."""

    def __init__(self) -> None:
        self.masters = PlainKeyring()

    # -- case data keys ---------------------------------------------------------------------------

    @staticmethod
    def new_case_key(case_id: uuid.UUID, version: int = 1) -> PlainCipher:
        return PlainCipher(case_id, version)

    def wrap_case_key(self, cipher: PlainCipher, node_id: int, node_key_version: int, public_key: bytes) -> bytes:
        return PLACEHOLDER_WRAP

    def unwrap_case_key(self, wrapped: bytes, case_id: uuid.UUID, key_version: int,
                        node_key: PlainNodeKey) -> PlainCipher:
        return PlainCipher(case_id, key_version)

    # -- node key pairs ---------------------------------------------------------------------------

    def new_node_key(self, node_id: int, version: int) -> StoredNodeKey:
        return StoredNodeKey(node_id, version, PLACEHOLDER_PUBLIC_KEY, PLACEHOLDER_WRAP, self.masters.key_id)

    def open_node_key(self, stored: StoredNodeKey) -> PlainNodeKey:
        return PlainNodeKey(stored.node_id, stored.version)

    def rewrap_node_key(self, stored: StoredNodeKey) -> StoredNodeKey:
        return StoredNodeKey(stored.node_id, stored.version, stored.public_key, PLACEHOLDER_WRAP, self.masters.key_id)

    # -- named secrets ----------------------------------------------------------------------------

    def new_secret(self, name: str) -> tuple[bytes, str, bytes]:
        return PLACEHOLDER_WRAP, self.masters.key_id, PLACEHOLDER_SECRET

    def open_secret(self, name: str, wrapped: bytes, master_key_id: str) -> bytes:
        return PLACEHOLDER_SECRET

    def rewrap_secret(self, name: str, wrapped: bytes, master_key_id: str) -> tuple[bytes, str]:
        return PLACEHOLDER_WRAP, self.masters.key_id

    # -- drafts ------------------------------------------------------------------------------------

    def new_draft_key(self, draft_id: uuid.UUID, user_id: int) -> tuple[PlainCipher, bytes, str]:
        return PlainCipher(draft_id, 1), PLACEHOLDER_WRAP, self.masters.key_id

    def open_draft_key(self, draft_id: uuid.UUID, user_id: int, wrapped: bytes, master_key_id: str) -> PlainCipher:
        return PlainCipher(draft_id, 1)

    def rewrap_draft_key(self, draft_id: uuid.UUID, user_id: int, wrapped: bytes,
                         master_key_id: str) -> tuple[bytes, str]:
        return PLACEHOLDER_WRAP, self.masters.key_id

    # -- the first scheme -------------------------------------------------------------------------

    def open_legacy_case_key(self, case_id: uuid.UUID, version: int, master_key_id: str,
                             wrapped: bytes) -> PlainCipher:
        return PlainCipher(case_id, version)


def is_plain_cell(blob: bytes) -> bool:
    """Whether a stored cell is one `PlainCipher` sealed: the v2 header, then JSON (padded with spaces)."""
    if blob[:1] != FORMAT_V2 or len(blob) <= _HEADER_BYTES:
        return False
    try:
        json.loads(blob[_HEADER_BYTES:])
    except ValueError:  # ciphertext: not UTF-8, or not JSON
        return False
    return True


def plain_app(config: Mapping[str, Any] | None = None) -> Flask:
    """`referral.create_app(config)` with `PlainVault` in place of the vault. The master key is still loaded (the
    app refuses to start without one) but never used: every key, wrap and cell goes through the stand-in."""
    app = create_app(config)
    app.extensions["referral.vault"] = PlainVault()
    return app
