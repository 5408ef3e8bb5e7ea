"""Entry point: `flask --app wsgi run`, or a WSGI server pointed at `wsgi:app`."""

import sys

from referral import StartupError, create_app

try:
    app = create_app()
except StartupError as error:
    sys.exit(f"referral cannot start: {error}")
