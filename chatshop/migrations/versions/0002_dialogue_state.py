"""dialogue state (conversation trackers, handoff marks)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dialogue_states',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('slots', sa.JSON(), nullable=False),
    sa.Column('active_loop', sa.String(length=64), nullable=True),
    sa.Column('latest_message', sa.JSON(), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('turns', sa.Integer(), nullable=False),
    sa.Column('handoff_requested_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handoff_reason', sa.String(length=32), nullable=True),
    sa.Column('updated_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_dialogue_states_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_dialogue_states'))
    )
    with op.batch_alter_table('dialogue_states', schema=None) as batch_op:
        batch_op.create_index('ix_dialogue_states_handoff', ['handoff_requested_at'], unique=False, sqlite_where=sa.text('handoff_requested_at IS NOT NULL'), postgresql_where=sa.text('handoff_requested_at IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('dialogue_states', schema=None) as batch_op:
        batch_op.drop_index('ix_dialogue_states_handoff', sqlite_where=sa.text('handoff_requested_at IS NOT NULL'), postgresql_where=sa.text('handoff_requested_at IS NOT NULL'))

    op.drop_table('dialogue_states')
