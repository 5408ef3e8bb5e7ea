"""Claiming a case for one unit of work: of two simultaneous writers, exactly one proceeds."""

from __future__ import annotations

from sqlalchemy.orm.exc import StaleDataError

from ..context import Context
from .errors import StaleCase
from .models import Case


def claim_version(ctx: Context, case: Case, expected_version: int) -> None:
    """Take the case for this unit of work: bump its version now, or StaleCase if the page was old.

    The conditional UPDATE runs before anything else is written, so of two simultaneous writers
    exactly one proceeds (PostgreSQL also holds the row lock from here to the commit).
    """
    if case.version != expected_version:
        raise StaleCase()
    case.touch(ctx.now())
    try:
        ctx.session.flush()
    except StaleDataError:
        raise StaleCase() from None
