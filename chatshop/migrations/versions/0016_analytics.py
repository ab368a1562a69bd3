"""analytics: raw events (views, add-to-cart, checkout) and the daily aggregates the 数据 page reads

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 22:55:10.794105
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('analytics_buyers',
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('first_paid_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('repeat_after_s', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('openid', name=op.f('pk_analytics_buyers'))
    )
    with op.batch_alter_table('analytics_buyers', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_buyers_first_day', ['first_day'], unique=False)

    op.create_table('analytics_daily_agents',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('csat_sum', sa.Integer(), nullable=False),
    sa.Column('csat_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'agent_id', name=op.f('pk_analytics_daily_agents'))
    )
    op.create_table('analytics_daily_buyers',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'openid', name=op.f('pk_analytics_daily_buyers'))
    )
    op.create_table('analytics_daily_hours',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'hour', name=op.f('pk_analytics_daily_hours'))
    )
    op.create_table('analytics_daily_products',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('src', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'product_id', 'src', 'kind', name=op.f('pk_analytics_daily_products'))
    )
    op.create_table('analytics_daily_sales',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.Column('refunds', sa.Integer(), nullable=False),
    sa.Column('refund_fen', sa.BigInteger(), nullable=False),
    sa.Column('viewers', sa.Integer(), nullable=False),
    sa.Column('carters', sa.Integer(), nullable=False),
    sa.Column('checkouters', sa.Integer(), nullable=False),
    sa.Column('questions', sa.Integer(), nullable=False),
    sa.Column('unanswered', sa.Integer(), nullable=False),
    sa.Column('handoffs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_analytics_daily_sales'))
    )
    op.create_table('analytics_daily_sources',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('src', sa.String(length=16), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('gmv_fen', sa.BigInteger(), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'src', 'ref_id', name=op.f('pk_analytics_daily_sources'))
    )
    op.create_table('analytics_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('src', sa.String(length=16), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_events'))
    )
    with op.batch_alter_table('analytics_events', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_events_at', ['at'], unique=False)
        batch_op.create_index('ix_analytics_events_openid_at', ['openid', 'at'], unique=False)

    op.create_table('analytics_rolled_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('rolled_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_analytics_rolled_days'))
    )


def downgrade() -> None:
    op.drop_table('analytics_rolled_days')
    with op.batch_alter_table('analytics_events', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_events_openid_at')
        batch_op.drop_index('ix_analytics_events_at')

    op.drop_table('analytics_events')
    op.drop_table('analytics_daily_sources')
    op.drop_table('analytics_daily_sales')
    op.drop_table('analytics_daily_products')
    op.drop_table('analytics_daily_hours')
    op.drop_table('analytics_daily_buyers')
    op.drop_table('analytics_daily_agents')
    with op.batch_alter_table('analytics_buyers', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_buyers_first_day')

    op.drop_table('analytics_buyers')
