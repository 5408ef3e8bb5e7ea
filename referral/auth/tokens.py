"""One-time account links: enrolment (a new account's person sets her own password; nobody else ever
knows it) and password reset. No Flask here.

The link carries a random token; the table keeps only its SHA-256, so a copy of the database opens no
account. A token works once (`redeem`), only before it expires, and only for its purpose; issuing a new
token of a purpose ends the user's earlier unused ones of that purpose.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import AccountToken, User
from .sessions import MAX_TOKEN_LENGTH, token_hash as _hash

ENROL = "enrol"
RESET = "reset"
PURPOSES = (ENROL, RESET)
LIFETIMES = {ENROL: dt.timedelta(hours=72), RESET: dt.timedelta(hours=1)}
TOKEN_BYTES = 32


def issue(db: Session, user: User, purpose: str, now: dt.datetime,
          lifetime: dt.timedelta | None = None) -> str:
    """A new token of `purpose` for `user` (flushed in the caller's transaction); return the token itself,
    which is kept nowhere: put it in the link and forget it."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    end_tokens(db, user.id, purpose, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.add(AccountToken(id=uuid.uuid4(), token_hash=_hash(token), user_id=user.id, purpose=purpose,
                        created_at=now, expires_at=now + (lifetime or LIFETIMES[purpose])))
    db.flush()
    return token


def _live(db: Session, token: str | None, purpose: str, now: dt.datetime) -> AccountToken | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.scalar(select(AccountToken).where(AccountToken.token_hash == _hash(token)))
    if row is None or row.purpose != purpose or row.used_at is not None or now >= row.expires_at:
        return None
    return row


def peek(db: Session, token: str | None, purpose: str, now: dt.datetime) -> User | None:
    """The user a live token of `purpose` is for, without using it (to show the form); else None."""
    row = _live(db, token, purpose, now)
    return None if row is None else db.get(User, row.user_id)


def redeem(db: Session, token: str | None, purpose: str, now: dt.datetime) -> User | None:
    """Use the token: return its user and mark it used, or None if it is unknown, used, expired or of
    another purpose. Two requests redeeming one token at once: the conditional UPDATE lets one win."""
    row = _live(db, token, purpose, now)
    if row is None:
        return None
    won = db.execute(update(AccountToken).where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
                     .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if won != 1:
        return None
    db.refresh(row)
    return db.get(User, row.user_id)


def end_tokens(db: Session, user_id: int, purpose: str | None, now: dt.datetime) -> int:
    """End the user's unused tokens (of `purpose`, or all); return how many."""
    query = update(AccountToken).where(AccountToken.user_id == user_id, AccountToken.used_at.is_(None))
    if purpose is not None:
        query = query.where(AccountToken.purpose == purpose)
    return db.execute(query.values(used_at=now).execution_options(synchronize_session=False)).rowcount
