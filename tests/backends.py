"""`@both_backends`: run a test on SQLite and on PostgreSQL (PostgreSQL skipped only outside CI)."""

import pytest

both_backends = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
