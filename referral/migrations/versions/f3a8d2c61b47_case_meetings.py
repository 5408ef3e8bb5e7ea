"""Coordination meetings (issue 16): mesas de caso and their agreements, sealed under the case key.

Revision ID: f3a8d2c61b47
Revises: c5d8e2f4a913
Create Date: 2026-12-07 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db


revision = 'f3a8d2c61b47'
down_revision = 'c5d8e2f4a913'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_meetings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('convener_node_id', sa.Integer(), nullable=False),
    sa.Column('convener_user_id', sa.Integer(), nullable=False),
    sa.Column('invited', sa.JSON(), nullable=False),
    sa.Column('starts_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modality', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.LargeBinary(), nullable=True),
    sa.Column('minutes_at', referral.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('minutes_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_meetings_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['convener_node_id'], ['nodes.id'], name=op.f('fk_case_meetings_convener_node_id_nodes')),
    sa.ForeignKeyConstraint(['convener_user_id'], ['users.id'], name=op.f('fk_case_meetings_convener_user_id_users')),
    sa.ForeignKeyConstraint(['minutes_user_id'], ['users.id'], name=op.f('fk_case_meetings_minutes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_meetings')),
    sa.UniqueConstraint('token', name=op.f('uq_case_meetings_token'))
    )
    with op.batch_alter_table('case_meetings', schema=None) as batch_op:
        batch_op.create_index('ix_case_meetings_case', ['case_id', 'starts_at'], unique=False)
    op.create_table('case_agreements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('meeting_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('responsible_node_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', referral.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_user_id', sa.Integer(), nullable=True),
    sa.Column('done_note', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_agreements_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['done_user_id'], ['users.id'], name=op.f('fk_case_agreements_done_user_id_users')),
    sa.ForeignKeyConstraint(['meeting_id'], ['case_meetings.id'], name=op.f('fk_case_agreements_meeting_id_case_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responsible_node_id'], ['nodes.id'], name=op.f('fk_case_agreements_responsible_node_id_nodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_agreements'))
    )
    with op.batch_alter_table('case_agreements', schema=None) as batch_op:
        batch_op.create_index('ix_case_agreements_case', ['case_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_agreements', schema=None) as batch_op:
        batch_op.drop_index('ix_case_agreements_case')
    op.drop_table('case_agreements')
    with op.batch_alter_table('case_meetings', schema=None) as batch_op:
        batch_op.drop_index('ix_case_meetings_case')
    op.drop_table('case_meetings')
