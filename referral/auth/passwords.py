"""Password hashing with argon2id (argon2-cffi); cheap parameters only for the test profile."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

_HASHERS = {
    "standard": PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY),
    # Tests hash hundreds of demo users; real argon2id, minimal cost.
    "test": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16),
}


def hasher(profile: str) -> PasswordHasher:
    return _HASHERS[profile]


def hash_password(password: str, profile: str = "standard") -> str:
    return hasher(profile).hash(password)


def verify_password(stored: str, password: str, profile: str = "standard") -> bool:
    try:
        return hasher(profile).verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, profile: str = "standard") -> bool:
    return hasher(profile).check_needs_rehash(stored)
