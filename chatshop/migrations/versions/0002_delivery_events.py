"""delivery events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:18:00.056408
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import commerce.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('at', commerce.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['conversation_messages.id'], name=op.f('fk_delivery_events_message_id_conversation_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events'))
    )
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_events_message_id'), ['message_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('delivery_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_events_message_id'))

    op.drop_table('delivery_events')
