"""customer tags: tags on customers with their audit trail, WeChat tag ids, product cards opened

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('group', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('set_by', sa.String(length=64), nullable=False),
    sa.Column('set_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('on_wechat', sa.Boolean(), nullable=False),
    sa.Column('sync_refusal', sa.String(length=160), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_tags_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tags')),
    sa.UniqueConstraint('customer_id', 'name', name=op.f('uq_customer_tags_customer_id_name'))
    )
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.create_index('ix_customer_tags_name', ['name', 'customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_tags_customer_id'), ['customer_id'], unique=False)

    op.create_table('customer_tag_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_customer_tag_audit_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_tag_audit'))
    )
    with op.batch_alter_table('customer_tag_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_tag_audit_customer_id'), ['customer_id'], unique=False)

    op.create_table('wechat_tag_ids',
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('wechat_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_wechat_tag_ids'))
    )

    op.create_table('card_opens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('conversation', sa.String(length=64), nullable=True),
    sa.Column('opened_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_card_opens_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_opens'))
    )
    with op.batch_alter_table('card_opens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_opens_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('card_opens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_opens_customer_id'))
    op.drop_table('card_opens')
    op.drop_table('wechat_tag_ids')
    with op.batch_alter_table('customer_tag_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_tag_audit_customer_id'))
    op.drop_table('customer_tag_audit')
    with op.batch_alter_table('customer_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_tags_customer_id'))
        batch_op.drop_index('ix_customer_tags_name')
    op.drop_table('customer_tags')
