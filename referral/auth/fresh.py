"""Re-authentication before sensitive steps: `@recently_verified`.

A session records when its person last proved who she is (`user_sessions.verified_at`: the sign-in, or a
confirmation at /cuenta/confirmar). A view marked `@recently_verified` runs only if that was within
`REAUTH_MINUTES` (app setting, default 10). Otherwise a GET is sent to /cuenta/confirmar?next=<itself>,
and a POST is answered with the confirmation page carrying everything that was posted, so that after
confirming the person sends it on with one click and nothing typed is lost.

    @bp.route("/eliminar-caso", methods=["GET", "POST"])
    @needs("erase_cases")
    @recently_verified
    def erase(): ...

    @recently_verified(only_if=lambda: request.args.get("formato") == "csv")  # only the download
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from flask import current_app

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MINUTES = 10


def window() -> dt.timedelta:
    return dt.timedelta(minutes=float(current_app.config.get("REAUTH_MINUTES", DEFAULT_MINUTES)))


def is_recent(verified_at: dt.datetime | None, now: dt.datetime, span: dt.timedelta) -> bool:
    """Whether a proof of identity at `verified_at` still covers a sensitive step at `now`."""
    return verified_at is not None and verified_at <= now and now - verified_at <= span


def verified_recently() -> bool:
    """Whether this request's session proved who its person is within the window."""
    from .views import current_session, session_now

    row = current_session()
    return row is not None and is_recent(row.verified_at, session_now(), window())


def _guard(view: F, only_if: Callable[[], bool] | None) -> F:
    @functools.wraps(view)  # keeps the access rule (`__access__`) the view was marked with
    def checked(*args: Any, **kwargs: Any) -> Any:
        if (only_if is not None and not only_if()) or verified_recently():
            return view(*args, **kwargs)
        from .second_factor_views import ask_confirmation

        return ask_confirmation()

    checked.__recently_verified__ = True  # type: ignore[attr-defined]
    return checked  # type: ignore[return-value]


@overload
def recently_verified(view: F) -> F: ...
@overload
def recently_verified(*, only_if: Callable[[], bool]) -> Callable[[F], F]: ...


def recently_verified(view: F | None = None, *, only_if: Callable[[], bool] | None = None) -> Any:
    """Mark a view as a sensitive step: it needs a proof of identity from the last few minutes."""
    if view is not None:
        return _guard(view, None)
    return lambda inner: _guard(inner, only_if)
