"""Entry point of the Celery processes; settings come from the same environment as the web application.

    celery -A referral.worker worker --loglevel INFO     # runs the tasks
    celery -A referral.worker beat --loglevel INFO       # sends the clock sweep every minute
"""

from __future__ import annotations

import sys

from . import StartupError, create_app

try:
    flask_app = create_app()
except StartupError as error:
    sys.exit(f"referral cannot start: {error}")
celery = flask_app.extensions["celery"]
