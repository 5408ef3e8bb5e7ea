"""Server-side sessions: a row per sign-in, so that logging out, "sign out everywhere", deactivating an
account or changing its password really end a session, and every session has an absolute lifetime.

The signed cookie carries one random token (Flask-Login's `_user_id`); the table keeps only its
SHA-256. A session is live while its row is not revoked, before `expires_at` (SESSION_ABSOLUTE_HOURS
after sign-in, whatever the activity) and while `last_seen_at` is within the idle timeout
(PERMANENT_SESSION_LIFETIME). A cookie without a live row (an old one holding a user id, a replayed
one after logout, a forged one) signs nobody in. Times come from the wall clock (`session_clock`).
No Flask here, but for the clock of the listener that ends the sessions of closed accounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session, attributes

from ..db import utcnow
from .models import User, UserSession

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100  # what a cookie may claim; longer is not ours
TOUCH_EVERY = dt.timedelta(minutes=1)  # `last_seen_at` is written at most once a minute per session
REHASHED = "referral.auth.rehashed"  # Session.info: accounts whose hash changed by a rehash, not a new password

# Browser families, from the most specific token to the least (Edge and Opera also say "Chrome",
# Chrome also says "Safari"). Only the family is kept: no version, no system, no address.
BROWSERS = (("edge", ("edg/", "edge/", "edga/", "edgios/")), ("opera", ("opr/", "opera")),
            ("samsung", ("samsungbrowser/",)), ("firefox", ("firefox/", "fxios/")),
            ("chrome", ("chrome/", "crios/", "chromium/")), ("safari", ("safari/",)))
OTHER = "other"


def browser_family(user_agent: str | None) -> str:
    agent = (user_agent or "").lower()
    for family, tokens in BROWSERS:
        if any(token in agent for token in tokens):
            return family
    return OTHER


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def is_live(row: UserSession, now: dt.datetime, idle: dt.timedelta) -> bool:
    return row.revoked_at is None and now < row.expires_at and now < row.last_seen_at + idle


def start(db: Session, user: User, now: dt.datetime, lifetime: dt.timedelta,
          user_agent: str | None) -> tuple[UserSession, str]:
    """A new session for `user`; return its row and the token for the cookie (kept nowhere else).
    The user's sessions that reached their absolute lifetime are deleted on the way."""
    db.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now)
               .execution_options(synchronize_session=False))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = UserSession(id=uuid.uuid4(), token_hash=token_hash(token), user_id=user.id, created_at=now,
                      last_seen_at=now, expires_at=now + lifetime, verified_at=now, browser=browser_family(user_agent))
    db.add(row)
    db.flush()
    return row, token


def resume(db: Session, token: str | None, now: dt.datetime, idle: dt.timedelta) -> UserSession | None:
    """The live session this cookie token names, or None."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    return row if row is not None and is_live(row, now, idle) else None


def touch(db: Session, row: UserSession, now: dt.datetime) -> None:
    """Record activity (at most once a minute), in a short transaction of its own: the request's unit of
    work is neither committed early nor made to carry this write."""
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    with db.get_bind().connect() as connection:
        connection.execute(update(UserSession.__table__).where(UserSession.__table__.c.id == row.id,
                                                                UserSession.__table__.c.revoked_at.is_(None))
                           .values(last_seen_at=now))
        connection.commit()
    attributes.set_committed_value(row, "last_seen_at", now)


def active_sessions(db: Session, user_id: int, now: dt.datetime, idle: dt.timedelta) -> list[UserSession]:
    """The user's live sessions, the most recently used first."""
    return list(db.scalars(select(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None), UserSession.expires_at > now,
        UserSession.last_seen_at > now - idle).order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())))


def find_own(db: Session, user_id: int, session_id: uuid.UUID, now: dt.datetime,
             idle: dt.timedelta) -> UserSession | None:
    """One of the user's live sessions; None for another person's, an ended one or none at all."""
    row = db.get(UserSession, session_id)
    return row if row is not None and row.user_id == user_id and is_live(row, now, idle) else None


def revoke(row: UserSession, now: dt.datetime) -> None:
    if row.revoked_at is None:
        row.revoked_at = now


def revoke_all(db: Session, user_id: int, now: dt.datetime, *, keep: uuid.UUID | None = None,
               idle: dt.timedelta | None = None) -> list[UserSession]:
    """End every unrevoked session of the user (but `keep`; with `idle`, only the live ones); return the
    rows ended."""
    query = select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    rows = [row for row in db.scalars(query) if idle is None or is_live(row, now, idle)]
    for row in rows:
        row.revoked_at = now
    return rows


def mark_rehashed(db: Session, user: User) -> None:
    """Say that `user`'s new password hash is the same password rehashed at sign-in (no session ends)."""
    db.info.setdefault(REHASHED, set()).add(user.id)


# -- accounts that close, and passwords that change, end their sessions -----------------------------


def session_clock(config: Mapping[str, Any]) -> Callable[[], dt.datetime]:
    """The clock sessions run on: the wall clock, unless a test sets SESSION_CLOCK (not the app's CLOCK,
    which test suites move by days while their browsers stay signed in)."""
    return config.get("SESSION_CLOCK") or utcnow


def _clock() -> Callable[[], dt.datetime]:
    from flask import current_app, has_app_context

    return session_clock(current_app.config) if has_app_context() else utcnow


def _changed(user: User, key: str) -> bool:
    history = attributes.get_history(user, key)
    return bool(history.added) and bool(history.deleted) and history.added != history.deleted


@event.listens_for(Session, "before_flush")
def _end_sessions_of_closed_accounts(db: Session, _context: object, _instances: object) -> None:
    """Whoever deactivates an account (the members page, the CLI, a script) or gives it a new password
    ends all its sessions in the same transaction. A hash renewed at sign-in keeps them (mark_rehashed)."""
    rehashed = db.info.get(REHASHED, set())
    closed = [user for user in db.dirty if isinstance(user, User) and user.id is not None
              and ((_changed(user, "active") and not user.active)
                   or (_changed(user, "password_hash") and user.id not in rehashed))]
    if not closed:
        return
    now = _clock()()
    for user in closed:
        revoke_all(db, user.id, now)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_rehashes(db: Session) -> None:
    db.info.pop(REHASHED, None)
