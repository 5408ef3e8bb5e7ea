"""Blind indexes: keyed hashes of normalised identifiers, to find a person's other cases without decrypting.

Each index kind has its own HMAC key, derived (HKDF) from one root secret that is kept wrapped by
the master key, so digests of one kind say nothing about another. Digests are truncated to 16 bytes:
enough to make accidental collisions negligible for millions of cases.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DIGEST_BYTES = 16


class BlindIndexer:
    def __init__(self, root: bytes):
        self._root = root
        self._keys: dict[str, bytes] = {}

    def _key(self, kind: str) -> bytes:
        if kind not in self._keys:
            self._keys[kind] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                    info=f"blind-index|v1|{kind}".encode()).derive(self._root)
        return self._keys[kind]

    def digest(self, kind: str, parts: Sequence[str]) -> bytes:
        """The digest of already-normalised parts under the key of `kind`."""
        message = "\x1f".join(parts).encode()
        return hmac.new(self._key(kind), message, hashlib.sha256).digest()[:DIGEST_BYTES]


def normalise_document(value: str) -> str:
    """national id `12.345.678-K` → `12345678K`; passport `ab 123 456` → `AB123456`."""
    return re.sub(r"[^0-9A-Z]", "", _fold(value).upper())


def normalise_name(value: str) -> str:
    """Case, accents, punctuation and word order removed: `Pérez-Díaz, Ana` → `ana diaz perez`."""
    words = re.sub(r"[^a-z]+", " ", _fold(value).lower()).split()
    return " ".join(sorted(words))


def _fold(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
