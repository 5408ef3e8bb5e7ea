"""A service Context on its own session, for command-line tools, workers and tests (no request)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from .context import Context
from .extensions import database


@contextmanager
def unit_of_work(app: Flask) -> Iterator[Context]:
    """One unit of work: the caller commits; anything not committed is rolled back on exit."""
    session = database.factory(app)()
    try:
        yield Context(session=session, protocol=app.extensions["referral.protocol"],
                      vault=app.extensions["referral.vault"], timezone=app.extensions["referral.timezone"],
                      clock=app.config["CLOCK"], blobs=app.extensions["referral.blobs"])
    finally:
        session.close()
