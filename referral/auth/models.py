"""Staff users: each belongs to one node and holds one role of the workflow."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow
from ..network.models import Node


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Keeps the node's services, capacity and contacts current (any role; administrators name them).
    manages_node: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    locale: Mapped[str | None] = mapped_column(String(8))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    node: Mapped[Node] = relationship(lazy="joined")

    # Flask-Login's protocol, written out so the model needs no Flask import.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"User(id={self.id}, role={self.role}, node={self.node_id})"


class UserSession(Base):
    """One signed-in session. The cookie carries a random token; this row keeps only its SHA-256, so a
    copy of the database signs nobody in. Valid while not revoked, before `expires_at` (the absolute
    lifetime) and while `last_seen_at` is within the idle timeout (referral/auth/sessions.py)."""

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)  # shown to its owner; not the token
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    browser: Mapped[str] = mapped_column(String(20))  # a browser family code (firefox, chrome, ...); no address
    # When the person last proved who she is in this session (password, and second factor where required):
    # sensitive steps ask again when this is older than a few minutes (re-authentication).
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"UserSession(id={self.id}, user={self.user_id})"


class AccountToken(Base):
    """A one-time link for an account: `enrol` (the person sets her first password) or `reset` (a new
    one after a lost password). Only the token's SHA-256 is kept; it works once, before `expires_at`,
    and issuing a new one of the same purpose ends the earlier ones (referral/auth/tokens.py)."""

    __tablename__ = "account_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"AccountToken(id={self.id}, user={self.user_id}, purpose={self.purpose})"


class LoginFailure(Base):
    """Failed sign-ins of one typed account from one address, for the login backoff
    (referral/auth/throttling.py). Both are keyed digests (HMAC of the normalised e-mail, of the
    address): an unknown e-mail is counted like a real account, and neither is kept in clear."""

    __tablename__ = "login_failures"

    account_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    address_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

    def __repr__(self) -> str:
        return f"LoginFailure(failures={self.failures})"
# -- second factor (referral/auth/second_factor.py) -------------------------------------------------


class SecondFactor(Base):
    """A person's authenticator app (TOTP, RFC 6238). The secret is wrapped by the master keyring
    (AES-256-GCM, bound to the account and the master key's id), never stored in clear. A row counts once
    `confirmed_at` is set (a first code proved the app holds the secret); a person has at most one
    confirmed row. `last_step` is the last time step accepted: a code is accepted once (no replay)."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    secret_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"SecondFactor(id={self.id}, user={self.user_id})"


class RecoveryCode(Base):
    """One single-use recovery code, kept only as an argon2id hash; `used_at` ends it."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"RecoveryCode(id={self.id}, user={self.user_id})"


class Verification(Base):
    """One series of attempts to prove who one is beyond the password: the code after a password
    (`login`), a first enrolment at sign-in (`enrol`) or a confirmation before a sensitive step
    (`confirm`, in `session_id`). It counts wrong codes server-side, so replaying an older cookie
    does not reset the count; `ended_at` closes it (success, too many failures, or replaced)."""

    __tablename__ = "verifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    session_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"Verification(id={self.id}, user={self.user_id}, purpose={self.purpose})"
