"""Master keys (key-encryption keys) that wrap node private keys and vault secrets; never in the database.

One master key is *primary* (new wraps use it); earlier ones stay loaded, for unwrapping only, until
`flask keys rotate-master` has re-wrapped everything they protect. A KMS or HashiCorp Vault client
could implement the same interface (`key_id`, `wrap`, `unwrap`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionFailed, MasterKeyMissing

KEY_BYTES = 32
NONCE_BYTES = 12


class MasterKey:
    """A 256-bit AES-GCM key-encryption key held in memory."""

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


class MasterKeyring:
    """The primary master key and the previous ones still needed to unwrap older wraps."""

    def __init__(self, primary: MasterKey, previous: Iterable[MasterKey] = ()):
        self.primary = primary
        self._keys = {key.key_id: key for key in previous}
        self._keys[primary.key_id] = primary

    @property
    def key_id(self) -> str:
        return self.primary.key_id

    @property
    def previous_ids(self) -> list[str]:
        return [key_id for key_id in self._keys if key_id != self.primary.key_id]

    def wrap(self, data: bytes, context: bytes) -> bytes:
        return self.primary.wrap(data, context)

    def unwrap(self, blob: bytes, context: bytes, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise MasterKeyMissing(f"master key {key_id} is not loaded; add it to REFERRAL_PREVIOUS_MASTER_KEYS")
        return key.unwrap(blob, context)

    def __repr__(self) -> str:
        return f"MasterKeyring(primary={self.key_id}, previous={self.previous_ids})"


def generate_secret() -> str:
    """A new master key, base64, as REFERRAL_MASTER_KEY and the key files hold it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


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
    try:  # O_EXCL: of two processes starting at once, one creates the key and both use it
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return MasterKey(_decode(path.read_text().strip(), str(path)))
    secret = os.urandom(KEY_BYTES)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(base64.b64encode(secret).decode() + "\n")
    return MasterKey(secret)


def load_master_keyring(environ_value: str | None, path: Path, previous_value: str | None, previous_path: Path,
                        *, create: bool) -> MasterKeyring:
    """The primary key (see load_master_key) and the previous keys: from REFERRAL_PREVIOUS_MASTER_KEYS
    (comma-separated base64) or, in development, one per line in `previous_path`."""
    primary = load_master_key(environ_value, path, create=create)
    if previous_value:
        texts, where = previous_value.split(","), "REFERRAL_PREVIOUS_MASTER_KEYS"
    elif previous_path.is_file():
        texts, where = previous_path.read_text().split(), str(previous_path)
    else:
        texts, where = [], ""
    return MasterKeyring(primary, [MasterKey(_decode(t.strip(), where)) for t in texts if t.strip()])


def write_key_file(path: Path, content: str) -> None:
    """Write a key file readable by its owner only, replacing any earlier one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content.rstrip("\n") + "\n" if content else "")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _decode(text: str, where: str) -> bytes:
    try:
        secret = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyMissing(f"{where}: the master key is not valid base64") from None
    if len(secret) != KEY_BYTES:
        raise MasterKeyMissing(f"{where}: the master key must decode to {KEY_BYTES} bytes")
    return secret
