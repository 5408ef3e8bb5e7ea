"""One-time account links (enrolment, reset): single use, expiry, purpose, only a hash stored."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import select

from referral.auth import tokens
from referral.auth.models import AccountToken, User

from ..backends import both_backends
from ..units import unit_of_work

NOW = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)


def _issue(app: Any, purpose: str = tokens.ENROL, email: str = "coordinador.rm@demo.cl") -> tuple[int, str]:
    with unit_of_work(app) as ctx:
        user = ctx.session.scalar(select(User).where(User.email == email))
        assert user is not None
        token = tokens.issue(ctx.session, user, purpose, NOW)
        ctx.session.commit()
        return user.id, token


def test_only_the_hash_is_stored_and_the_token_works_once(app: Any) -> None:
    user_id, token = _issue(app)
    with unit_of_work(app) as ctx:
        stored = ctx.session.scalars(select(AccountToken)).all()
        assert len(stored) == 1 and token.encode() not in stored[0].token_hash
        assert tokens.peek(ctx.session, token, tokens.ENROL, NOW).id == user_id  # type: ignore[union-attr]
        assert tokens.redeem(ctx.session, token, tokens.ENROL, NOW).id == user_id  # type: ignore[union-attr]
        ctx.session.commit()
    with unit_of_work(app) as ctx:
        assert tokens.redeem(ctx.session, token, tokens.ENROL, NOW) is None  # replayed link
        assert tokens.peek(ctx.session, token, tokens.ENROL, NOW) is None


def test_expired_wrong_purpose_forged_and_superseded_tokens_open_nothing(app: Any) -> None:
    _, token = _issue(app)
    with unit_of_work(app) as ctx:
        assert tokens.redeem(ctx.session, token, tokens.RESET, NOW) is None  # an enrolment link is no reset link
        assert tokens.redeem(ctx.session, token, tokens.ENROL, NOW + dt.timedelta(hours=72)) is None
        assert tokens.redeem(ctx.session, token + "x", tokens.ENROL, NOW) is None
        assert tokens.redeem(ctx.session, "a" * 500, tokens.ENROL, NOW) is None
        assert tokens.redeem(ctx.session, None, tokens.ENROL, NOW) is None
    _, newer = _issue(app)  # a new link ends the old one
    with unit_of_work(app) as ctx:
        assert tokens.redeem(ctx.session, token, tokens.ENROL, NOW) is None
        assert tokens.redeem(ctx.session, newer, tokens.ENROL, NOW + dt.timedelta(hours=71)) is not None
        ctx.session.commit()
    _, reset = _issue(app, tokens.RESET)
    with unit_of_work(app) as ctx:
        assert tokens.redeem(ctx.session, reset, tokens.RESET, NOW + dt.timedelta(minutes=61)) is None


@both_backends
def test_two_requests_redeeming_one_link_at_once_one_wins(app: Any) -> None:
    _, token = _issue(app)
    barrier, results = threading.Barrier(2), []

    def attempt() -> None:
        with unit_of_work(app) as ctx:
            barrier.wait()
            user = tokens.redeem(ctx.session, token, tokens.ENROL, NOW)
            ctx.session.commit()
            results.append(user is not None)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
