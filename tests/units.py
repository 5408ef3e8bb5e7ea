"""A service Context on its own session, as one request (or one worker) has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from referral.context import Context
from referral.extensions import database


@contextmanager
def unit_of_work(app: Any) -> Iterator[Context]:
    """Services need no app context, and none is pushed: browser requests keep their own `g`."""
    session = database.factory(app)()
    try:
        yield Context(session=session, protocol=app.extensions["referral.protocol"],
                      vault=app.extensions["referral.vault"], timezone=app.extensions["referral.timezone"],
                      clock=app.config["CLOCK"])
    finally:
        session.close()
