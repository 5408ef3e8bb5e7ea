"""Access grants (issue 14, separation of duties): a change that would let an account read cases waits
as a request for a second person's approval; node managers get a notice of each request and decision.

Revision ID: 5d2e8b7c4a10
Revises: 3c5e1f0a9b7d
Create Date: 2026-12-06 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = '5d2e8b7c4a10'
down_revision = '3c5e1f0a9b7d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_grants',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('proposed_by', sa.Integer(), nullable=False),
    sa.Column('proposed_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('new_email', sa.String(length=200), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', referral.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_access_grants_decided_by_users')),
    sa.ForeignKeyConstraint(['proposed_by'], ['users.id'], name=op.f('fk_access_grants_proposed_by_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_access_grants_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_grants'))
    )
    with op.batch_alter_table('access_grants', schema=None) as batch_op:
        batch_op.create_index('ix_access_grants_state', ['state', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_grants_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_access_grants_one_pending', ['user_id'], unique=True,
                              sqlite_where=sa.text("state = 'pendiente'"),
                              postgresql_where=sa.text("state = 'pendiente'"))
    op.create_table('access_notices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', referral.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['access_grants.id'], name=op.f('fk_access_notices_grant_id_access_grants'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_access_notices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_notices'))
    )
    with op.batch_alter_table('access_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_notices_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index('ix_access_notices_user', ['user_id', 'read_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('access_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_access_notices_user')
        batch_op.drop_index(batch_op.f('ix_access_notices_grant_id'))
    op.drop_table('access_notices')
    with op.batch_alter_table('access_grants', schema=None) as batch_op:
        batch_op.drop_index('uq_access_grants_one_pending')
        batch_op.drop_index(batch_op.f('ix_access_grants_user_id'))
        batch_op.drop_index('ix_access_grants_state')
    op.drop_table('access_grants')
