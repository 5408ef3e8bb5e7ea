"""The change generation: one integer every transaction writing case or network data raises (issue 17).

Revision ID: b7e4c2d9f031
Revises: a5d3e8f1c920
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b7e4c2d9f031'
down_revision = 'a5d3e8f1c920'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'change_generation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_change_generation')),
    )
    op.bulk_insert(table, [{'id': 1, 'value': 0}])


def downgrade() -> None:
    op.drop_table('change_generation')
