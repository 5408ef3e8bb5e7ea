"""Record keys for cell-key perturbation of auditors' figures (issue 13): a permanent random key per case.

Revision ID: d41a7e0c2b55
Revises: c7f1159f1b0e
Create Date: 2026-12-06 20:10:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = 'd41a7e0c2b55'
down_revision = 'c7f1159f1b0e'
branch_labels = None
depends_on = None

KEY_SPACE = 1 << 31  # referral/stats/disclosure.py


def upgrade() -> None:
    with op.batch_alter_table('case_stats') as batch:
        batch.add_column(sa.Column('record_key', sa.Integer(), nullable=True))
    bind = op.get_bind()
    stats = sa.table('case_stats', sa.column('case_id', sa.Uuid()), sa.column('record_key', sa.Integer()))
    ids = [row[0] for row in bind.execute(sa.select(stats.c.case_id))]
    for start in range(0, len(ids), 1000):  # a fresh random key for each existing case
        bind.execute(stats.update().where(stats.c.case_id == sa.bindparam('id')).values(record_key=sa.bindparam('key')),
                     [{'id': case_id, 'key': secrets.randbelow(KEY_SPACE)} for case_id in ids[start:start + 1000]])
    with op.batch_alter_table('case_stats') as batch:
        batch.alter_column('record_key', existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('case_stats') as batch:
        batch.drop_column('record_key')
