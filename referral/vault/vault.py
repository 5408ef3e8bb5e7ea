"""Key operations by intent: case data keys, node key pairs, HPKE wraps, named vault secrets.

    master keyring ──wraps (AES-256-GCM)──▶ node private keys (X25519), vault secrets
    node public key ──wraps (HPKE, RFC 9180)──▶ a case's data key, once per node with a live reason
    case data key ──seals (AES-256-GCM)──▶ every personal cell of the case

The vault holds the master keyring and nothing else for long; callers keep opened keys for one
unit of work at most.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from .cells import CaseCipher
from .errors import DecryptionFailed
from .keys import KEY_BYTES, MasterKey, MasterKeyring

# DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; base mode, single-shot.
HPKE_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
_RAW = serialization.Encoding.Raw


@dataclass(frozen=True)
class StoredNodeKey:
    """A node's key pair as stored: the public key in clear, the private key wrapped by a master key."""

    node_id: int
    version: int
    public_key: bytes
    private_wrapped: bytes
    master_key_id: str


class NodePrivateKey:
    """An opened node private key; lives for one unit of work."""

    def __init__(self, node_id: int, version: int, key: X25519PrivateKey):
        self.node_id, self.version, self._key = node_id, version, key

    def __repr__(self) -> str:
        return f"NodePrivateKey(node={self.node_id}, version={self.version})"


class Vault:
    def __init__(self, masters: MasterKeyring | MasterKey):
        self.masters = masters if isinstance(masters, MasterKeyring) else MasterKeyring(masters)

    # -- case data keys -----------------------------------------------------------------------

    @staticmethod
    def new_case_key(case_id: uuid.UUID, version: int = 1) -> CaseCipher:
        """A fresh random data key for a case; it is stored only as wraps (see wrap_case_key)."""
        return CaseCipher(case_id, version, os.urandom(KEY_BYTES))

    @staticmethod
    def _wrap_info(case_id: uuid.UUID, key_version: int, node_id: int, node_key_version: int) -> bytes:
        return f"case-key|v1|{case_id}|{key_version}|node|{node_id}|{node_key_version}".encode()

    def wrap_case_key(self, cipher: CaseCipher, node_id: int, node_key_version: int, public_key: bytes) -> bytes:
        """The case key sealed to one node's public key (HPKE), bound to the case, version and node key."""
        info = self._wrap_info(cipher.case_id, cipher.key_version, node_id, node_key_version)
        return HPKE_SUITE.encrypt(cipher._data_key, X25519PublicKey.from_public_bytes(public_key), info=info)

    def unwrap_case_key(self, wrapped: bytes, case_id: uuid.UUID, key_version: int,
                        node_key: NodePrivateKey) -> CaseCipher:
        """Open a node's wrap of a case key with that node's private key, or DecryptionFailed."""
        info = self._wrap_info(case_id, key_version, node_key.node_id, node_key.version)
        try:
            data_key = HPKE_SUITE.decrypt(wrapped, node_key._key, info=info)
        except (InvalidTag, ValueError):
            raise DecryptionFailed("a case key wrap did not open with this node's key") from None
        return CaseCipher(case_id, key_version, data_key)

    # -- node key pairs -----------------------------------------------------------------------

    @staticmethod
    def _node_context(node_id: int, version: int, master_key_id: str) -> bytes:
        return f"node-key|v1|{node_id}|{version}|{master_key_id}".encode()

    def new_node_key(self, node_id: int, version: int) -> StoredNodeKey:
        private = X25519PrivateKey.generate()
        raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        master_id = self.masters.key_id
        return StoredNodeKey(node_id, version, private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
                             self.masters.wrap(raw, self._node_context(node_id, version, master_id)), master_id)

    def open_node_key(self, stored: StoredNodeKey) -> NodePrivateKey:
        raw = self.masters.unwrap(stored.private_wrapped,
                                  self._node_context(stored.node_id, stored.version, stored.master_key_id),
                                  stored.master_key_id)
        return NodePrivateKey(stored.node_id, stored.version, X25519PrivateKey.from_private_bytes(raw))

    def rewrap_node_key(self, stored: StoredNodeKey) -> StoredNodeKey:
        """The same node key wrapped under the primary master key (master rotation)."""
        raw = self.masters.unwrap(stored.private_wrapped,
                                  self._node_context(stored.node_id, stored.version, stored.master_key_id),
                                  stored.master_key_id)
        master_id = self.masters.key_id
        return StoredNodeKey(stored.node_id, stored.version, stored.public_key,
                             self.masters.wrap(raw, self._node_context(stored.node_id, stored.version, master_id)),
                             master_id)

    # -- named secrets (the blind-index key) --------------------------------------------------

    @staticmethod
    def _secret_context(name: str, master_key_id: str) -> bytes:
        return f"secret|v1|{name}|{master_key_id}".encode()

    def new_secret(self, name: str) -> tuple[bytes, str, bytes]:
        """A new random secret: (wrapped, master key id) to store, and the secret itself."""
        secret = os.urandom(KEY_BYTES)
        master_id = self.masters.key_id
        return self.masters.wrap(secret, self._secret_context(name, master_id)), master_id, secret

    def open_secret(self, name: str, wrapped: bytes, master_key_id: str) -> bytes:
        return self.masters.unwrap(wrapped, self._secret_context(name, master_key_id), master_key_id)

    def rewrap_secret(self, name: str, wrapped: bytes, master_key_id: str) -> tuple[bytes, str]:
        secret = self.open_secret(name, wrapped, master_key_id)
        return self.masters.wrap(secret, self._secret_context(name, self.masters.key_id)), self.masters.key_id

    # -- drafts: one data key per unfinished form, wrapped for its author alone -------------------

    @staticmethod
    def _draft_context(draft_id: uuid.UUID, user_id: int, master_key_id: str) -> bytes:
        return f"draft-key|v1|{draft_id}|user|{user_id}|{master_key_id}".encode()

    def new_draft_key(self, draft_id: uuid.UUID, user_id: int) -> tuple[CaseCipher, bytes, str]:
        """A fresh data key for one draft: (cipher, wrapped, master key id). The wrap is bound to the
        draft and to its author, so a wrap copied to another draft or person does not open."""
        cipher = CaseCipher(draft_id, 1, os.urandom(KEY_BYTES))
        master_id = self.masters.key_id
        return cipher, self.masters.wrap(cipher._data_key, self._draft_context(draft_id, user_id, master_id)), master_id

    def open_draft_key(self, draft_id: uuid.UUID, user_id: int, wrapped: bytes, master_key_id: str) -> CaseCipher:
        raw = self.masters.unwrap(wrapped, self._draft_context(draft_id, user_id, master_key_id), master_key_id)
        return CaseCipher(draft_id, 1, raw)

    def rewrap_draft_key(self, draft_id: uuid.UUID, user_id: int, wrapped: bytes,
                         master_key_id: str) -> tuple[bytes, str]:
        """The same draft key wrapped under the primary master key (master rotation)."""
        cipher = self.open_draft_key(draft_id, user_id, wrapped, master_key_id)
        master_id = self.masters.key_id
        return self.masters.wrap(cipher._data_key, self._draft_context(draft_id, user_id, master_id)), master_id

    # -- the first scheme: case keys wrapped directly by the master key -----------------------

    def open_legacy_case_key(self, case_id: uuid.UUID, version: int, master_key_id: str, wrapped: bytes) -> CaseCipher:
        """A case key stored before per-node wraps; `flask keys rotate-master` converts these."""
        context = f"case-key|{case_id}|{version}|{master_key_id}".encode()
        return CaseCipher(case_id, version, self.masters.unwrap(wrapped, context, master_key_id))
