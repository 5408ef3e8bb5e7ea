"""The Plan de Acción Nacional contra la Trata de Personas (issue 18 part 2): plans, institutions, ejes, líneas,
acciones and the progress focal points report (referral/plan/models.py). No victim data; evidence documents are
sealed blobs outside the database, their keys sealed under the plan module's key.

Revision ID: 78f9138b6e81
Revises: b7e2c4d9a1f3
Create Date: 2026-12-07 18:42:51
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db

revision = '78f9138b6e81'
down_revision = 'b7e2c4d9a1f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('plan_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_plans')),
    sa.UniqueConstraint('key', name=op.f('uq_plan_plans_key'))
    )
    op.create_table('plan_institutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('node_codes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan_plans.id'], name=op.f('fk_plan_institutions_plan_id_plan_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_institutions')),
    sa.UniqueConstraint('plan_id', 'key', name=op.f('uq_plan_institutions_plan_id'))
    )
    op.create_table('plan_ejes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('objective', sa.Text(), nullable=False),
    sa.Column('coordinator_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['coordinator_id'], ['plan_institutions.id'], name=op.f('fk_plan_ejes_coordinator_id_plan_institutions')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan_plans.id'], name=op.f('fk_plan_ejes_plan_id_plan_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_ejes')),
    sa.UniqueConstraint('plan_id', 'number', name=op.f('uq_plan_ejes_plan_id'))
    )
    op.create_table('plan_lineas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('eje_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['eje_id'], ['plan_ejes.id'], name=op.f('fk_plan_lineas_eje_id_plan_ejes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_lineas')),
    sa.UniqueConstraint('eje_id', 'number', name=op.f('uq_plan_lineas_eje_id'))
    )
    op.create_table('plan_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('linea_id', sa.Integer(), nullable=False),
    sa.Column('eje_number', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.Column('meta', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['linea_id'], ['plan_lineas.id'], name=op.f('fk_plan_actions_linea_id_plan_lineas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['plan_plans.id'], name=op.f('fk_plan_actions_plan_id_plan_plans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responsible_id'], ['plan_institutions.id'], name=op.f('fk_plan_actions_responsible_id_plan_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_actions')),
    sa.UniqueConstraint('plan_id', 'eje_number', 'code', name=op.f('uq_plan_actions_plan_id'))
    )
    op.create_index('ix_plan_actions_due', 'plan_actions', ['plan_id', 'due_on'], unique=False)
    op.create_table('plan_progress',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('reported_at', referral.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('evidence_blob_id', sa.String(length=32), nullable=True),
    sa.Column('evidence_key', sa.LargeBinary(), nullable=True),
    sa.Column('evidence_data', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['plan_actions.id'], name=op.f('fk_plan_progress_action_id_plan_actions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_plan_progress_node_id_nodes')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_plan_progress_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_progress')),
    sa.UniqueConstraint('evidence_blob_id', name=op.f('uq_plan_progress_evidence_blob_id')),
    sa.UniqueConstraint('token', name=op.f('uq_plan_progress_token'))
    )
    op.create_index('ix_plan_progress_action', 'plan_progress', ['action_id', 'reported_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_plan_progress_action', table_name='plan_progress')
    op.drop_table('plan_progress')
    op.drop_index('ix_plan_actions_due', table_name='plan_actions')
    op.drop_table('plan_actions')
    op.drop_table('plan_lineas')
    op.drop_table('plan_ejes')
    op.drop_table('plan_institutions')
    op.drop_table('plan_plans')
