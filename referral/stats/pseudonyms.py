"""The name a case has for one audit body: its audit-log pseudonym, encrypted under that body's own key.

Within a scope (the auditor's node: the Mesa's secretariat, an oversight body, one research agreement)
a case keeps one name on every page and export; two scopes' names for the same case cannot be linked
without the installation's key. The name is one AES block (the 12-byte log pseudonym and 4 zero bytes),
so the server turns it back into the log pseudonym to open a timeline; a forged or other scope's name
fails the zero check (2^-32 chance of passing) and finds nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..audit.service import pseudonym_key
from ..context import Context

_PAD = bytes(4)


def _scope_key(ctx: Context, scope: int) -> bytes:
    cached = ctx.keycache.get(f"audit-scope:{scope}")
    if cached is None:
        cached = ctx.keycache[f"audit-scope:{scope}"] = hmac.new(pseudonym_key(ctx), b"audit-scope:%d" % scope,
                                                                  hashlib.sha256).digest()
    return cached


def _cipher(ctx: Context, scope: int) -> Cipher[modes.ECB]:
    # One block, a keyed permutation of the pseudonym: ECB's weakness (equal blocks) is what we want here.
    return Cipher(algorithms.AES(_scope_key(ctx, scope)), modes.ECB())  # noqa: S305


def scoped(ctx: Context, scope: int, log_pseudonym: str) -> str:
    """The case's name for `scope`: 26 lowercase base32 characters."""
    encryptor = _cipher(ctx, scope).encryptor()
    block = encryptor.update(bytes.fromhex(log_pseudonym) + _PAD) + encryptor.finalize()
    return base64.b32encode(block).decode().rstrip("=").lower()


def unscoped(ctx: Context, scope: int, name: str) -> str | None:
    """The log pseudonym behind a scope's name, or None if it is not a name of this scope."""
    try:
        block = base64.b32decode(name.upper() + "======")
    except (ValueError, TypeError):
        return None
    if len(block) != 16:
        return None
    decryptor = _cipher(ctx, scope).decryptor()
    plain = decryptor.update(block) + decryptor.finalize()
    return plain[:12].hex() if plain[12:] == _PAD else None
