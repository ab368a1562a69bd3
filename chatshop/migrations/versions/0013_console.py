"""console: live events, canned replies, response times and ratings

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 17:03:01.115709
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('shortcut', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies')),
    sa.UniqueConstraint('shortcut', name=op.f('uq_canned_replies_shortcut'))
    )
    op.create_table('console_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('group', sa.String(length=40), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_events'))
    )
    with op.batch_alter_table('console_events', schema=None) as batch_op:
        batch_op.create_index('ix_console_events_at', ['at'], unique=False)

    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_assigned_at', storage.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_reply_at', storage.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('csat_score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('csat_at', storage.db.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('csat_at')
        batch_op.drop_column('csat_score')
        batch_op.drop_column('first_reply_at')
        batch_op.drop_column('first_assigned_at')

    with op.batch_alter_table('console_events', schema=None) as batch_op:
        batch_op.drop_index('ix_console_events_at')

    op.drop_table('console_events')
    op.drop_table('canned_replies')
