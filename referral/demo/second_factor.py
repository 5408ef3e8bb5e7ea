"""Demo accounts whose role requires a second factor get an authenticator secret derived from their
e-mail, so the demo can be used from a browser: `flask --app wsgi demo code EMAIL` prints the current code.
Demo and tests only: the derivation is public (it is in this file), so such a secret protects nothing.
`flask demo load` refuses to run in production, and `demo code` refuses there too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pyotp
from sqlalchemy.orm import Session

from ..auth import second_factor as factors
from ..auth.models import User
from ..vault import MasterKeyring
from ..workflow import WorkflowDefinition

DERIVATION_KEY = b"referral demo second factor: public, never for a real account"


def demo_secret(email: str) -> str:
    """The demo authenticator secret of an account (base32, 160 bits), the same on every demo load."""
    digest = hmac.new(DERIVATION_KEY, email.strip().lower().encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode("ascii")


def enrol_demo_accounts(db: Session, masters: MasterKeyring, definition: WorkflowDefinition,
                        users: list[User], now: dt.datetime) -> int:
    """Give every demo account that must have a second factor its demo authenticator; return how many."""
    enrolled = 0
    for user in users:
        if factors.required(db, definition, user):
            factors.enrol_secret(db, masters, user, demo_secret(user.email), now, confirmed=True)
            enrolled += 1
    return enrolled


def current_code(db: Session, masters: MasterKeyring, user: User, now: dt.datetime) -> str | None:
    """The code the demo authenticator of `user` shows now; None unless her secret is the demo one."""
    factor = factors.active_factor(db, user.id)
    secret = demo_secret(user.email)
    if factor is None or not hmac.compare_digest(factors.open_secret(masters, factor), secret):
        return None
    return pyotp.TOTP(secret, digits=factors.DIGITS, interval=factors.STEP_SECONDS).at(now)
