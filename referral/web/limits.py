"""Rate limits (Flask-Limiter): login attempts per address, shared through Redis when configured.

One Limiter per application: Flask-Limiter keeps its storage on the Limiter object, so a shared
module-level instance would let one app's settings leak into another's.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def init_app(app: Flask) -> Limiter:
    limiter = Limiter(get_remote_address, app=app)
    login = app.view_functions["auth.login"]
    app.view_functions["auth.login"] = limiter.limit(lambda: app.config["LOGIN_LIMIT"], methods=["POST"])(login)
    app.extensions["referral.limiter"] = limiter
    return limiter
