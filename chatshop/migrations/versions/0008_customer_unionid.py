"""customer unionid: one customer across the Official Account and the mini-program

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unionid', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_customers_unionid', ['unionid'], unique=False)
    with op.batch_alter_table('mp_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_mp_sessions_unionid', ['unionid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mp_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_mp_sessions_unionid')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_unionid')
        batch_op.drop_column('unionid')
