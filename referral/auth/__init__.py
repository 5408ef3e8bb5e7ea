"""Staff accounts: login, password hashing, server-side sessions, per-route access rules."""

# Registers the listener that ends an account's sessions when it is deactivated or its password changes,
# wherever the account is changed from (the app, the CLI, a script).
from . import sessions as sessions  # noqa: F401
