"""outreach: consent ledger, subscribe messages, notices, reminders, campaigns

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:45:24.496737
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('audience', sa.String(length=500), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('page', sa.String(length=255), nullable=False),
    sa.Column('scheduled_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('throttle_per_s', sa.Integer(), nullable=False),
    sa.Column('holdout_pct', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('planned', sa.Boolean(), nullable=False),
    sa.Column('audience_size', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_state'), ['state'], unique=False)

    op.create_table('outreach_opens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('src', sa.String(length=24), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.Column('page', sa.String(length=64), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_opens'))
    )
    with op.batch_alter_table('outreach_opens', schema=None) as batch_op:
        batch_op.create_index('ix_outreach_opens_ref', ['src', 'ref_id'], unique=False)

    op.create_table('campaign_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_events_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_events'))
    )
    with op.batch_alter_table('campaign_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_events_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('cart_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('cart_touched_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sku_id', sa.String(length=64), nullable=False),
    sa.Column('cart_fen', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('holdout', sa.Boolean(), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_cart_reminders_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_reminders'))
    )
    with op.batch_alter_table('cart_reminders', schema=None) as batch_op:
        batch_op.create_index('ix_cart_reminders_customer', ['customer_id', 'created_at'], unique=False)
        batch_op.create_index('uq_cart_reminders_cart', ['openid', 'cart_touched_at'], unique=True)

    op.create_table('consent_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consent_events_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_events_customer_id'), ['customer_id'], unique=False)

    op.create_table('order_notices',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_order_notices_customer_id_customers')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_order_notices'))
    )
    with op.batch_alter_table('order_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_notices_order_no'), ['order_no'], unique=False)

    op.create_table('outreach_optouts',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_outreach_optouts_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_outreach_optouts'))
    )
    op.create_table('subscribe_credits',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('credits', sa.Integer(), nullable=False),
    sa.Column('last_result', sa.String(length=16), nullable=False),
    sa.Column('updated_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('credits >= 0', name=op.f('ck_subscribe_credits_credits_not_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_subscribe_credits_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', 'template_id', name=op.f('pk_subscribe_credits'))
    )
    op.create_table('subscribe_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('page', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('idempotency_key', sa.String(length=80), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('credits_left', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_subscribe_messages_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_subscribe_messages_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribe_messages'))
    )
    with op.batch_alter_table('subscribe_messages', schema=None) as batch_op:
        batch_op.create_index('ix_subscribe_messages_campaign', ['campaign_id', 'state'], unique=False)
        batch_op.create_index('ix_subscribe_messages_customer', ['customer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_subscribe_messages_live', ['next_attempt_at', 'id'], unique=False, sqlite_where=sa.text("state IN ('pending', 'sending', 'in_doubt')"), postgresql_where=sa.text("state IN ('pending', 'sending', 'in_doubt')"))
        batch_op.create_index('uq_subscribe_messages_key', ['idempotency_key'], unique=True, sqlite_where=sa.text('idempotency_key IS NOT NULL'), postgresql_where=sa.text('idempotency_key IS NOT NULL'))



def downgrade() -> None:
    with op.batch_alter_table('subscribe_messages', schema=None) as batch_op:
        batch_op.drop_index('uq_subscribe_messages_key', sqlite_where=sa.text('idempotency_key IS NOT NULL'), postgresql_where=sa.text('idempotency_key IS NOT NULL'))
        batch_op.drop_index('ix_subscribe_messages_live', sqlite_where=sa.text("state IN ('pending', 'sending', 'in_doubt')"), postgresql_where=sa.text("state IN ('pending', 'sending', 'in_doubt')"))
        batch_op.drop_index('ix_subscribe_messages_customer')
        batch_op.drop_index('ix_subscribe_messages_campaign')

    op.drop_table('subscribe_messages')
    op.drop_table('subscribe_credits')
    op.drop_table('outreach_optouts')
    with op.batch_alter_table('order_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_notices_order_no'))

    op.drop_table('order_notices')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_events_customer_id'))

    op.drop_table('consent_events')
    with op.batch_alter_table('cart_reminders', schema=None) as batch_op:
        batch_op.drop_index('uq_cart_reminders_cart')
        batch_op.drop_index('ix_cart_reminders_customer')

    op.drop_table('cart_reminders')
    with op.batch_alter_table('campaign_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_events_campaign_id'))

    op.drop_table('campaign_events')
    with op.batch_alter_table('outreach_opens', schema=None) as batch_op:
        batch_op.drop_index('ix_outreach_opens_ref')

    op.drop_table('outreach_opens')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_state'))

    op.drop_table('campaigns')
