"""Drafts of the intake form (issue 15): a Ficha saved unfinished by its author, sealed under a key of its
own wrapped by the master key; only ids and timestamps in clear.

Revision ID: 7d3a1f9e2c58
Revises: 5b2d9e7c4a16
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = '7d3a1f9e2c58'
down_revision = '5b2d9e7c4a16'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_drafts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('form_key', sa.String(length=60), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('key_wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('master_key_id', sa.String(length=32), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], name=op.f('fk_intake_drafts_author_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_drafts')),
    sa.UniqueConstraint('token', name=op.f('uq_intake_drafts_token'))
    )
    with op.batch_alter_table('intake_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_drafts_author_user_id'), ['author_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_intake_drafts_master_key_id'), ['master_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_intake_drafts_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intake_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_drafts_expires_at'))
        batch_op.drop_index(batch_op.f('ix_intake_drafts_master_key_id'))
        batch_op.drop_index(batch_op.f('ix_intake_drafts_author_user_id'))
    op.drop_table('intake_drafts')
