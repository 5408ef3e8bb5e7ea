"""Indexes for a national database (issue 17): a meeting's agreements by an index, not a scan of every case's
agreements; the cases a node takes part in read from a covering index (PostgreSQL: with the columns a worklist's
access check reads).

Revision ID: d2a9f6c3e184
Revises: b7e4c2d9f031
Create Date: 2026-12-07 13:05:00
"""

from __future__ import annotations

from alembic import op

revision = 'd2a9f6c3e184'
down_revision = 'b7e4c2d9f031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_case_agreements_meeting', 'case_agreements', ['meeting_id'], unique=False)
    op.create_index('ix_case_participants_node_cover', 'case_participants', ['node_id', 'case_id'], unique=False,
                    postgresql_include=['relation', 'active', 'expires_at'])


def downgrade() -> None:
    op.drop_index('ix_case_participants_node_cover', table_name='case_participants')
    op.drop_index('ix_case_agreements_meeting', table_name='case_agreements')
