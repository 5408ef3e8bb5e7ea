"""The Mesa Intersectorial's meetings and agreements (issue 18), and clocks whose subject is not a case: case_clocks
and notifications get a NULL case_id for them, case_clocks the subject's kind and the nodes told (docs/clocks.md).

Revision ID: b7e4c2a9d5f1
Revises: 78f9138b6e81
Create Date: 2026-12-07 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db

revision = 'b7e4c2a9d5f1'
down_revision = '78f9138b6e81'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_kind', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('parties', sa.JSON(), nullable=True))
        batch_op.alter_column('case_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.create_check_constraint('case_or_subject', "case_id IS NOT NULL OR subject_kind != ''")
        batch_op.create_index('uq_subject_clocks_running', ['subject_kind', 'clock', 'subject'], unique=True,
                              sqlite_where=sa.text("status = 'running' AND case_id IS NULL"),
                              postgresql_where=sa.text("status = 'running' AND case_id IS NULL"))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('case_id', existing_type=sa.Uuid(), nullable=True)
    op.create_table(
        'mesa_meetings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('mesa', sa.String(length=12), nullable=False),
        sa.Column('region_code', sa.String(length=8), nullable=True),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('present', sa.JSON(), nullable=False),
        sa.Column('minutes', sa.Text(), nullable=True),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('recorded_by', sa.Integer(), nullable=False),
        sa.Column('recorder_node_id', sa.Integer(), nullable=False),
        sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(mesa = 'nacional' AND region_code IS NULL) OR (mesa = 'regional' AND region_code IS NOT "
                           "NULL)", name=op.f('ck_mesa_meetings_mesa_region')),
        sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_mesa_meetings_recorded_by_users')),
        sa.ForeignKeyConstraint(['recorder_node_id'], ['nodes.id'],
                                name=op.f('fk_mesa_meetings_recorder_node_id_nodes')),
        sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_mesa_meetings_region_code_regions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mesa_meetings')),
        sa.UniqueConstraint('token', name=op.f('uq_mesa_meetings_token')),
    )
    op.create_index('ix_mesa_meetings_mesa', 'mesa_meetings', ['mesa', 'region_code', 'held_on'], unique=False)
    op.create_table(
        'mesa_agreements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('meeting_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('responsible_node_id', sa.Integer(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('done_at', referral.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('done_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['done_by'], ['users.id'], name=op.f('fk_mesa_agreements_done_by_users')),
        sa.ForeignKeyConstraint(['meeting_id'], ['mesa_meetings.id'],
                                name=op.f('fk_mesa_agreements_meeting_id_mesa_meetings'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['responsible_node_id'], ['nodes.id'],
                                name=op.f('fk_mesa_agreements_responsible_node_id_nodes')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mesa_agreements')),
    )
    op.create_index('ix_mesa_agreements_meeting', 'mesa_agreements', ['meeting_id'], unique=False)
    op.create_index('ix_mesa_agreements_node', 'mesa_agreements', ['responsible_node_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_mesa_agreements_node', table_name='mesa_agreements')
    op.drop_index('ix_mesa_agreements_meeting', table_name='mesa_agreements')
    op.drop_table('mesa_agreements')
    op.drop_index('ix_mesa_meetings_mesa', table_name='mesa_meetings')
    op.drop_table('mesa_meetings')
    # the clocks and notifications of subjects that are not cases cannot go back into a column that needs a case
    op.execute("DELETE FROM notifications WHERE case_id IS NULL")
    op.execute("DELETE FROM case_clocks WHERE case_id IS NULL")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('case_id', existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table('case_clocks', schema=None) as batch_op:
        batch_op.drop_index('uq_subject_clocks_running')
        batch_op.drop_constraint('case_or_subject', type_='check')
        batch_op.alter_column('case_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('parties')
        batch_op.drop_column('subject_kind')
