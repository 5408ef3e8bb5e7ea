"""An owed e-mail is claimed when a sweep hands it to the mail queue (a lease, as clocks' enqueued_at).

Revision ID: a5d3e8f1c920
Revises: 6e1b9d4c2a57
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = 'a5d3e8f1c920'
down_revision = '6e1b9d4c2a57'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_enqueued_at', referral.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('email_enqueued_at')
