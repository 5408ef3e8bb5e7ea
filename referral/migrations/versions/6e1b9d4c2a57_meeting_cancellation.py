"""A case meeting can be cancelled by its convener before its minutes: when, by whom, and the reason's code.

Revision ID: 6e1b9d4c2a57
Revises: f3a8d2c61b47
Create Date: 2026-12-07 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = '6e1b9d4c2a57'
down_revision = 'f3a8d2c61b47'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', referral.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=40), nullable=True))
        batch_op.create_foreign_key('fk_case_meetings_cancelled_user', 'users', ['cancelled_user_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('case_meetings', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_meetings_cancelled_user', type_='foreignkey')
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_user_id')
        batch_op.drop_column('cancelled_at')
