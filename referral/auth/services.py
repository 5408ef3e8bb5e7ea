"""Logging in: verify the password, lock an account after repeated failures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import User
from .passwords import hash_password, needs_rehash, verify_password
from .sessions import mark_rehashed

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)


class LoginFailed(Exception):
    """Wrong email or password, an inactive account, or a locked one; `locked` says which."""

    def __init__(self, locked: bool = False):
        super().__init__("locked" if locked else "invalid credentials")
        self.locked = locked


def authenticate(session: Session, email: str, password: str, now: dt.datetime, profile: str) -> User:
    """The active user with these credentials; raise LoginFailed (same error for unknown email)."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        hash_password(password, profile)  # spend the same time as a real check
        raise LoginFailed()
    if user.locked_until is not None and user.locked_until > now:
        raise LoginFailed(locked=True)
    if not verify_password(user.password_hash, password, profile) or not user.active:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        raise LoginFailed()
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    if needs_rehash(user.password_hash, profile):
        mark_rehashed(session, user)  # the same password: her other sessions go on
        user.password_hash = hash_password(password, profile)
    return user
