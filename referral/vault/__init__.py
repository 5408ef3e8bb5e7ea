"""All cryptography of the application: master keys, node key pairs, case data keys, sealed cells,
blind indexes.

Nothing outside this package imports `cryptography`. See docs/encryption.md for the model.
"""

from .blind import BlindIndexer, normalise_document, normalise_name
from .cells import CaseCipher, Cell, sealed_version
from .files import CHUNK, FileCipher, SpoolFile, new_file_key, read_full, sealed_size
from .errors import DecryptionFailed, MasterKeyMissing, VaultError
from .keys import MasterKey, MasterKeyring, generate_secret, load_master_key, load_master_keyring, write_key_file
from .vault import NodePrivateKey, StoredNodeKey, Vault

__all__ = [
    "BlindIndexer", "CHUNK", "CaseCipher", "Cell", "FileCipher", "SpoolFile", "new_file_key", "read_full", "sealed_size", "DecryptionFailed", "MasterKey", "MasterKeyMissing", "MasterKeyring",
    "NodePrivateKey", "StoredNodeKey", "Vault", "VaultError", "generate_secret", "load_master_key",
    "load_master_keyring", "normalise_document", "normalise_name", "sealed_version", "write_key_file",
]
