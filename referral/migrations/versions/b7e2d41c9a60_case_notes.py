"""Case notes (issue 16): atenciones sealed under the case key, shared with chosen relations.

Revision ID: b7e2d41c9a60
Revises: e4c1a9d70b35
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = 'b7e2d41c9a60'
down_revision = 'e4c1a9d70b35'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_notes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=False),
    sa.Column('author_node_id', sa.Integer(), nullable=False),
    sa.Column('shared_with', sa.JSON(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_node_id'], ['nodes.id'], name=op.f('fk_case_notes_author_node_id_nodes')),
    sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], name=op.f('fk_case_notes_author_user_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_notes_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes')),
    sa.UniqueConstraint('token', name=op.f('uq_case_notes_token'))
    )
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.create_index('ix_case_notes_case', ['case_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_case_notes_case')
    op.drop_table('case_notes')
