"""conversations, outbox, reply windows, dedupe, token cache

Revision ID: 0001
Revises:
Create Date: 2026-11-22 06:40:27.716929
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cache_entries',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_cache_entries'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('subscribed', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('typing_until', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('channel', 'openid', name=op.f('uq_customers_channel_openid'))
    )
    op.create_table('inbound_messages',
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('received_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reply_xml', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('dedupe_key', name=op.f('pk_inbound_messages'))
    )
    op.create_table('conversation_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wechat_msg_id', sa.BigInteger(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=80), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_conversation_messages_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_messages'))
    )
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_messages_customer_time', ['customer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_conversation_messages_outbox', ['delivery', 'next_attempt_at'], unique=False, sqlite_where=sa.text("delivery IN ('pending', 'sending')"), postgresql_where=sa.text("delivery IN ('pending', 'sending')"))
        batch_op.create_index('uq_conversation_messages_idempotency_key', ['idempotency_key'], unique=True, sqlite_where=sa.text('idempotency_key IS NOT NULL'), postgresql_where=sa.text('idempotency_key IS NOT NULL'))

    op.create_table('reply_windows',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('opened_by', sa.String(length=16), nullable=False),
    sa.Column('opened_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=True),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_reply_windows_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_reply_windows'))
    )
    op.create_table('delivery_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
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
    op.drop_table('reply_windows')
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.drop_index('uq_conversation_messages_idempotency_key', sqlite_where=sa.text('idempotency_key IS NOT NULL'), postgresql_where=sa.text('idempotency_key IS NOT NULL'))
        batch_op.drop_index('ix_conversation_messages_outbox', sqlite_where=sa.text("delivery IN ('pending', 'sending')"), postgresql_where=sa.text("delivery IN ('pending', 'sending')"))
        batch_op.drop_index('ix_conversation_messages_customer_time')

    op.drop_table('conversation_messages')
    op.drop_table('inbound_messages')
    op.drop_table('customers')
    op.drop_table('cache_entries')
