"""handoff: conversations with a person, their events and notes, the routing roster

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:35:38.097060
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_agents',
    sa.Column('staff_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('groups', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('max_chats', sa.Integer(), nullable=False),
    sa.Column('active_chats', sa.Integer(), nullable=False),
    sa.Column('idle_since', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('staff_id', name=op.f('pk_routing_agents'))
    )
    op.create_table('routing_group_locks',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_routing_group_locks'))
    )
    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('group', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('assigned_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=24), nullable=True),
    sa.Column('last_customer_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_agent_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('awaiting_since', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_handoffs_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_agent', ['agent_id', 'state'], unique=False)
        batch_op.create_index('ix_handoffs_queue', ['group', 'state', 'queued_at'], unique=False)
        batch_op.create_index('uq_handoffs_open_customer', ['customer_id'], unique=True, sqlite_where=sa.text("state IN ('queued', 'assigned')"), postgresql_where=sa.text("state IN ('queued', 'assigned')"))

    op.create_table('handoff_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('group', sa.String(length=40), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.String(length=255), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_handoff_events_handoff_id_handoffs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_events'))
    )
    with op.batch_alter_table('handoff_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_events_handoff_id'), ['handoff_id'], unique=False)

    op.create_table('handoff_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_handoff_notes_handoff_id_handoffs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_notes'))
    )
    with op.batch_alter_table('handoff_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_notes_handoff_id'), ['handoff_id'], unique=False)

    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_by', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.drop_column('sent_by')

    with op.batch_alter_table('handoff_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_notes_handoff_id'))

    op.drop_table('handoff_notes')
    with op.batch_alter_table('handoff_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_events_handoff_id'))

    op.drop_table('handoff_events')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('uq_handoffs_open_customer', sqlite_where=sa.text("state IN ('queued', 'assigned')"), postgresql_where=sa.text("state IN ('queued', 'assigned')"))
        batch_op.drop_index('ix_handoffs_queue')
        batch_op.drop_index('ix_handoffs_agent')

    op.drop_table('handoffs')
    op.drop_table('routing_group_locks')
    op.drop_table('routing_agents')
