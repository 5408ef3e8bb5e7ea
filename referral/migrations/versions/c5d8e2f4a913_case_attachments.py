"""Case documents (issue 16 item 3): files sealed in chunks under their own key, sealed under the case key.

Revision ID: c5d8e2f4a913
Revises: a7c3e5f91d20
Create Date: 2026-12-07 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = 'c5d8e2f4a913'
down_revision = 'a7c3e5f91d20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_attachments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('author_node_id', sa.Integer(), nullable=False),
    sa.Column('shared_with', sa.JSON(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('blob_id', sa.String(length=32), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('file_key', sa.LargeBinary(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_node_id'], ['nodes.id'], name=op.f('fk_case_attachments_author_node_id_nodes')),
    sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], name=op.f('fk_case_attachments_author_user_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_attachments_case_id_cases'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_attachments')),
    sa.UniqueConstraint('blob_id', name=op.f('uq_case_attachments_blob_id')),
    sa.UniqueConstraint('token', name=op.f('uq_case_attachments_token'))
    )
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_case_attachments_case', ['case_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_case_attachments_case')
    op.drop_table('case_attachments')
