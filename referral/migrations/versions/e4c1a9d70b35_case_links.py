"""Case links (issue 15): keyed hashes of an identifier several cases share (the RUC of a criminal case), so
the cases of one causa are linked without the identifier in clear and without access across them.

Revision ID: e4c1a9d70b35
Revises: 7d3a1f9e2c58
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'e4c1a9d70b35'
down_revision = '7d3a1f9e2c58'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=16), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_links_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_links')),
    sa.UniqueConstraint('case_id', 'kind', name='uq_case_links_case_kind')
    )
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_links_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_case_links_lookup', ['kind', 'digest'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.drop_index('ix_case_links_lookup')
        batch_op.drop_index(batch_op.f('ix_case_links_case_id'))
    op.drop_table('case_links')
