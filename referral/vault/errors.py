"""Exceptions of the vault; their messages never contain plaintext or key material."""


class VaultError(Exception):
    """Base class of every vault failure."""


class DecryptionFailed(VaultError):
    """A ciphertext did not authenticate: wrong key, wrong row, or tampered bytes."""


class MasterKeyMissing(VaultError):
    """No master key is configured and none may be created here."""
