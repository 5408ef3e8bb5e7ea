"""Case assignments (issue 16 item 4): the person responsible for a case within a node («responsable»),
with the history of reassignments (ids, moments and a reason code only).

Revision ID: a7c3e5f91d20
Revises: b7e2d41c9a60
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = 'a7c3e5f91d20'
down_revision = 'b7e2d41c9a60'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('assigned_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('assigned_by_user_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('ended_at', referral.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_assignments_case_id_cases'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_case_assignments_node_id_nodes')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_assignments_user_id_users')),
    sa.ForeignKeyConstraint(['assigned_by_user_id'], ['users.id'],
                            name=op.f('fk_case_assignments_assigned_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_assignments'))
    )
    with op.batch_alter_table('case_assignments', schema=None) as batch_op:
        batch_op.create_index('uq_case_assignments_current', ['case_id', 'node_id'], unique=True,
                              sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.create_index('ix_case_assignments_user', ['user_id', 'ended_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_case_assignments_user')
        batch_op.drop_index('uq_case_assignments_current')
    op.drop_table('case_assignments')
