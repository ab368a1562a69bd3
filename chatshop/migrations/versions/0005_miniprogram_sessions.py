"""mini-program API sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mp_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('session_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_mp_sessions'))
    )
    with op.batch_alter_table('mp_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mp_sessions_openid'), ['openid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mp_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mp_sessions_openid'))

    op.drop_table('mp_sessions')
