"""Login backoff (issue 14): failed sign-ins per (typed account, address), both as keyed digests, instead
of the fixed 15-minute lock anyone could set off. `users.failed_logins` and `users.locked_until` are no
longer read by the login.

Revision ID: 5b9d2e7c4a10
Revises: 5d2e8b7c4a10
Create Date: 2026-12-06 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = '5b9d2e7c4a10'
down_revision = '5d2e8b7c4a10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('account_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('address_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account_key', 'address_key', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failures_last_failed_at'), ['last_failed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failures_last_failed_at'))
    op.drop_table('login_failures')
