"""Extension objects, created unbound here and bound to an app in create_app()."""

from __future__ import annotations

from flask import Flask, g
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_session_factory
from .generation import watch

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()


class Database:
    """One engine per app; one session per request, closed (and rolled back if uncommitted) at teardown."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        watch(engine)  # the change generation the navigation's counts are reused by (referral/generation.py)
        app.extensions["referral.db"] = (engine, make_session_factory(engine))
        app.teardown_appcontext(self._close)

    @staticmethod
    def engine(app: Flask) -> Engine:
        return app.extensions["referral.db"][0]

    @staticmethod
    def factory(app: Flask) -> sessionmaker[Session]:
        return app.extensions["referral.db"][1]

    def session(self) -> Session:
        from flask import current_app

        if "db_session" not in g:
            g.db_session = self.factory(current_app)()
        return g.db_session

    @staticmethod
    def rollback() -> None:
        """Roll back the request's session, if it has one: after a failed flush it cannot read until then.

        Error handlers call this before anything else, so the page can read the user again.
        """
        session = g.get("db_session")
        if session is None:
            return
        try:
            session.rollback()
        except Exception:  # noqa: BLE001 - the connection itself is gone: start again with a new session
            g.pop("db_session", None)
            session.invalidate()

    @staticmethod
    def _close(_error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


database = Database()
