"""Login backoff: failed sign-ins slow the next attempt on the same account, more from the address they
came from than from elsewhere, so that nobody can keep a worker out from another address. No Flask here.

Failures are counted per (typed account, address) in `login_failures`, both as keyed digests (HMAC with
a key derived from the application's secret): an unknown e-mail is counted exactly like a real account
(no answer differs between them), and no e-mail or address is kept in clear.

An attempt on an account from address A weighs
    score = (A's own failures on it) + (failures from every other address, at most SHARE from each)
and, from FREE failures on, must come at least BASE × 2^(score − FREE) (capped at CAP) after the
account's last failure; earlier ones are refused unchecked and not counted. Failures older than WINDOW
are forgotten; a sign-in from A forgets A's failures; a password reset forgets them all.
docs/security.md, "Login throttling", tells why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import LoginFailure

FREE = 5  # failures before any wait
SHARE = 3  # failures from another address count at most this many
BASE = dt.timedelta(seconds=1)
CAP = dt.timedelta(minutes=15)
WINDOW = dt.timedelta(hours=24)
ZERO = dt.timedelta(0)


@dataclass(frozen=True)
class Keys:
    """Who is tried (the typed e-mail) and from where, as keyed digests."""

    account: bytes
    address: bytes


def normalise_email(email: str) -> str:
    return email.strip().lower()


def derive_secret(app_secret: str | bytes) -> bytes:
    """The HMAC key of the counters, derived from the application's secret (so never the secret itself)."""
    raw = app_secret.encode() if isinstance(app_secret, str) else app_secret
    return hmac.new(raw, b"referral.auth.throttling", hashlib.sha256).digest()


def digest(secret: bytes, kind: str, value: str) -> bytes:
    return hmac.new(secret, f"{kind}\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def network_of(address: str | None) -> str:
    """The address as one attacker holds it: an IPv4 address, or the /64 network of an IPv6 one (anyone
    given a /64 holds all of it, and could otherwise pass for thousands of addresses)."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def keys_for(secret: bytes, email: str, address: str | None) -> Keys:
    return Keys(digest(secret, "account", normalise_email(email)), digest(secret, "address", network_of(address)))


def score(rows: Sequence[LoginFailure], address: bytes) -> int:
    own = sum(row.failures for row in rows if row.address_key == address)
    return own + sum(min(row.failures, SHARE) for row in rows if row.address_key != address)


def delay(points: int) -> dt.timedelta:
    """The least time between the account's last failure and the next attempt, for this score."""
    if points < FREE:
        return ZERO
    return min(BASE * 2 ** min(points - FREE, 20), CAP)


def _live_rows(db: Session, account: bytes, now: dt.datetime) -> list[LoginFailure]:
    return list(db.scalars(select(LoginFailure).where(LoginFailure.account_key == account,
                                                      LoginFailure.last_failed_at > now - WINDOW)))


def wait_left(db: Session, keys: Keys, now: dt.datetime) -> dt.timedelta:
    """How long an attempt on this account from this address must still wait (zero: it may try now)."""
    rows = _live_rows(db, keys.account, now)
    if not rows:
        return ZERO
    last = max(row.last_failed_at for row in rows)
    return max(last + delay(score(rows, keys.address)) - now, ZERO)


def record_failure(db: Session, keys: Keys, now: dt.datetime) -> None:
    """Count one failure (one upsert, safe under concurrent attempts); forget failures past the window."""
    db.execute(delete(LoginFailure).where(LoginFailure.last_failed_at <= now - WINDOW)
               .execution_options(synchronize_session=False))
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(LoginFailure).values(account_key=keys.account, address_key=keys.address, failures=1,
                                            last_failed_at=now)
    db.execute(statement.on_conflict_do_update(index_elements=["account_key", "address_key"],
                                               set_={"failures": LoginFailure.failures + 1, "last_failed_at": now}))


def forget_address(db: Session, keys: Keys) -> None:
    """A sign-in succeeded from this address: its own failures on the account are forgotten (not others')."""
    db.execute(delete(LoginFailure).where(LoginFailure.account_key == keys.account,
                                          LoginFailure.address_key == keys.address)
               .execution_options(synchronize_session=False))


def forget_account(db: Session, secret: bytes, email: str) -> None:
    """The person proved she holds the account's mailbox (a reset): every failure on it is forgotten."""
    account = digest(secret, "account", normalise_email(email))
    db.execute(delete(LoginFailure).where(LoginFailure.account_key == account)
               .execution_options(synchronize_session=False))
