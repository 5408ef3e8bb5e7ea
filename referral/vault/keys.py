"""The master key (key-encryption key) that wraps every case key; it never enters the database."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionFailed, MasterKeyMissing

KEY_BYTES = 32
NONCE_BYTES = 12


class MasterKey:
    """A 256-bit AES-GCM key-encryption key held in memory; a KMS could implement the same two calls."""

    def __init__(self, secret: bytes):
        if len(secret) != KEY_BYTES:
            raise MasterKeyMissing(f"the master key must be {KEY_BYTES} bytes, got {len(secret)}")
        self._aead = AESGCM(secret)
        # A public fingerprint names the key in stored wraps, so rotation knows what each wrap needs.
        self.key_id = hashlib.sha256(b"referral-master-key-id" + secret).hexdigest()[:16]

    def wrap(self, data: bytes, context: bytes) -> bytes:
        """Encrypt key material, bound to `context` (what the key is for)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context)

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except (InvalidTag, ValueError):
            raise DecryptionFailed("a wrapped key did not authenticate under the master key") from None

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id})"


def load_master_key(environ_value: str | None, path: Path, *, create: bool) -> MasterKey:
    """The key from the environment (base64), else from `path`; create the file only if `create`."""
    if environ_value:
        return MasterKey(_decode(environ_value, "REFERRAL_MASTER_KEY"))
    if path.is_file():
        return MasterKey(_decode(path.read_text().strip(), str(path)))
    if not create:
        raise MasterKeyMissing(
            f"no master key: set REFERRAL_MASTER_KEY (32 random bytes, base64) or provide {path}. "
            "Generate one with: python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\""
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(KEY_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(base64.b64encode(secret).decode() + "\n")
    return MasterKey(secret)


def _decode(text: str, where: str) -> bytes:
    try:
        secret = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyMissing(f"{where}: the master key is not valid base64") from None
    if len(secret) != KEY_BYTES:
        raise MasterKeyMissing(f"{where}: the master key must decode to {KEY_BYTES} bytes")
    return secret
