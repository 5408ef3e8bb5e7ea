"""Regions as a country folder says them (issue 19): a short name, a long name for offices, the land neighbours.
Existing regions get the neighbours the finder used before, the previous and the next in display order. (The
Roman numeral, one country's numbering, stays a column; a region without one stores ''. Plain ADD COLUMNs: on
SQLite a batch would copy `regions`, which the nodes' foreign keys forbid while nodes exist.)

Revision ID: a9c4e7d2f318
Revises: b7e4c2a9d5f1
Create Date: 2026-12-07 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'a9c4e7d2f318'
down_revision = 'b7e4c2a9d5f1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('regions', sa.Column('short_name', sa.String(length=80), nullable=True))
    op.add_column('regions', sa.Column('long_name', sa.String(length=160), nullable=True))
    op.add_column('regions', sa.Column('neighbours', sa.JSON(), nullable=False, server_default='[]'))
    connection = op.get_bind()
    codes = [row[0] for row in connection.execute(sa.text("SELECT code FROM regions ORDER BY position"))]
    update = sa.text("UPDATE regions SET neighbours = :near WHERE code = :code").bindparams(
        sa.bindparam("near", type_=sa.JSON()))
    for i, code in enumerate(codes):
        connection.execute(update, {"near": [codes[j] for j in (i - 1, i + 1) if 0 <= j < len(codes)], "code": code})


def downgrade() -> None:
    for column in ('neighbours', 'long_name', 'short_name'):  # SQLite 3.35+ drops a column in place
        op.drop_column('regions', column)
