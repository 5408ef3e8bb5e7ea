"""Staff accounts: login, password hashing, per-route access rules."""
