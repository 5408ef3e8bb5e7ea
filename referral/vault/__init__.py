"""All cryptography of the application: master key, per-case data keys, sealed cells.

Nothing outside this package imports `cryptography`. See docs/encryption.md for the model.
"""

from .cells import Cell, CaseCipher
from .errors import DecryptionFailed, MasterKeyMissing, VaultError
from .keys import MasterKey, load_master_key
from .vault import Vault, WrappedCaseKey

__all__ = [
    "CaseCipher", "Cell", "DecryptionFailed", "MasterKey", "MasterKeyMissing", "Vault",
    "VaultError", "WrappedCaseKey", "load_master_key",
]
