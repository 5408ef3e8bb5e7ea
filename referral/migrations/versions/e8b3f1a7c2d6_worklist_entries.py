"""The worklists' rows kept by the steps (issue 17): one row per (worklist, node, role, case) with the columns a
worklist filters and orders on. Filled from the cases by `flask worklists rebuild` (the upgrade command runs it
when the table is empty and cases exist; referral/cases/worklists.py).

Revision ID: e8b3f1a7c2d6
Revises: d2a9f6c3e184
Create Date: 2026-12-07 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import referral.db

revision = 'e8b3f1a7c2d6'
down_revision = 'd2a9f6c3e184'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'worklist_entries',
        sa.Column('inbox', sa.String(length=40), nullable=False),
        sa.Column('node_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=40), nullable=False),
        sa.Column('case_id', sa.Uuid(), nullable=False),
        sa.Column('mine', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=40), nullable=False),
        sa.Column('region_code', sa.String(length=8), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('created_at', referral.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reference', sa.String(length=20), nullable=False),
        sa.Column('due_at', referral.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('expires_at', referral.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_worklist_entries_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_worklist_entries_node_id_nodes')),
        sa.PrimaryKeyConstraint('inbox', 'node_id', 'role', 'case_id', name=op.f('pk_worklist_entries')),
    )
    op.create_index('ix_worklist_entries_case', 'worklist_entries', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_worklist_entries_case', table_name='worklist_entries')
    op.drop_table('worklist_entries')
