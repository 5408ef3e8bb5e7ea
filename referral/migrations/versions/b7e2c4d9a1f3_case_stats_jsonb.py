"""The statistics projection's codes as JSONB on PostgreSQL (issue 18): the annual report groups by a dozen
codes of every case; a `json` column is parsed again for each `->>`, a `jsonb` one is read in place. SQLite keeps
JSON (text), as before.

Revision ID: b7e2c4d9a1f3
Revises: e8b3f1a7c2d6
Create Date: 2026-12-07 19:20:00
"""

from __future__ import annotations

from alembic import op

revision = 'b7e2c4d9a1f3'
down_revision = 'e8b3f1a7c2d6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in ("attributes", "tracks"):
        op.execute(f"ALTER TABLE case_stats ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in ("attributes", "tracks"):
        op.execute(f"ALTER TABLE case_stats ALTER COLUMN {column} TYPE json USING {column}::json")
