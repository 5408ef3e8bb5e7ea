"""Logging in and setting passwords: verify, slow down repeated failures (throttling.py), set hashes
(enrolment, reset, change), each with its audit event (codes and ids only).

Every way a sign-in can fail (unknown e-mail, wrong password, inactive account, an account without a
password yet, an attempt that came too soon) raises the same LoginFailed after the same work (one
argon2 computation), so neither the answer nor its timing tells whether an account exists.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audit.service import record
from ..context import Context
from . import throttling, tokens
from .models import User
from .passwords import hash_password, needs_rehash, verify_password
from .sessions import mark_rehashed


class LoginFailed(Exception):
    """Any failed sign-in. `user_id` names the account when it exists (for the audit log, never shown);
    `throttled` says the attempt came before the backoff allowed it and was not checked."""

    def __init__(self, user_id: int | None = None, throttled: bool = False):
        super().__init__("throttled" if throttled else "invalid credentials")
        self.user_id = user_id
        self.throttled = throttled


def find_account(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == throttling.normalise_email(email)))


def _matches(user: User | None, password: str, profile: str) -> bool:
    """The password check, always one argon2 computation: also for no account, or one without a password
    (its hash is "!", which argon2 refuses at once)."""
    if user is None or not user.password_hash.startswith("$argon2"):
        hash_password(password, profile)
        return False
    return verify_password(user.password_hash, password, profile)


def authenticate(session: Session, email: str, password: str, now: dt.datetime, profile: str,
                 keys: throttling.Keys) -> User:
    """The active user with these credentials; raise LoginFailed otherwise, the same way for all causes."""
    user = find_account(session, email)
    if throttling.wait_left(session, keys, now) > dt.timedelta(0):
        hash_password(password, profile)  # spend the time of a real check
        raise LoginFailed(user.id if user else None, throttled=True)
    if not _matches(user, password, profile) or user is None or not user.active:
        throttling.record_failure(session, keys, now)
        raise LoginFailed(user.id if user else None)
    throttling.forget_address(session, keys)
    user.last_login_at = now
    if needs_rehash(user.password_hash, profile):
        mark_rehashed(session, user)  # the same password: her other sessions go on
        user.password_hash = hash_password(password, profile)
    return user


def check_current_password(session: Session, user: User, password: str, now: dt.datetime, profile: str,
                           keys: throttling.Keys) -> bool:
    """Whether `password` is the signed-in person's own, under the same backoff as the login (a stolen
    session must not become a way to guess the password)."""
    if throttling.wait_left(session, keys, now) > dt.timedelta(0):
        hash_password(password, profile)
        return False
    if _matches(user, password, profile):
        return True
    throttling.record_failure(session, keys, now)
    return False


def set_password(user: User, password: str, profile: str) -> None:
    """A new password: the before_flush listener in sessions.py ends every session of the account."""
    user.password_hash = hash_password(password, profile)


# -- the three ways a person sets her own password (each in the caller's transaction) ----------------


def enrol(ctx: Context, user: User, password: str, profile: str) -> None:
    """The first password, from an enrolment link already redeemed. `active` stays as it is: an account
    still awaiting approval stays inactive."""
    set_password(user, password, profile)
    record(ctx, "account.enrolled", role=user.role, node_id=user.node_id, subject=str(user.id))


def reset_password(ctx: Context, user: User, password: str, profile: str, throttle_secret: bytes) -> None:
    """A new password from a reset link already redeemed: every session and every other unused link of the
    account ends, and its login backoff is forgotten (she proved she holds the mailbox)."""
    set_password(user, password, profile)
    tokens.end_tokens(ctx.session, user.id, None, ctx.now())
    throttling.forget_account(ctx.session, throttle_secret, user.email)
    record(ctx, "password.reset", role=user.role, node_id=user.node_id, subject=str(user.id))


def change_password(ctx: Context, user: User, password: str, profile: str) -> None:
    """A new password chosen by the signed-in person (the current one checked): every session of the
    account ends at this flush, unused reset links too; the caller starts a fresh session for her."""
    set_password(user, password, profile)
    tokens.end_tokens(ctx.session, user.id, tokens.RESET, ctx.now())
    record(ctx, "password.changed", role=user.role, node_id=user.node_id, subject=str(user.id))
    ctx.session.flush()
