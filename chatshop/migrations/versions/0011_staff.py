"""staff accounts: accounts, sessions, personal tokens, failed logins

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('skill_groups', sa.JSON(), nullable=False),
    sa.Column('max_chats', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_username'))
    )
    op.create_table('staff_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_sessions_staff_id_staff')),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_staff_sessions'))
    )
    op.create_index(op.f('ix_staff_sessions_staff_id'), 'staff_sessions', ['staff_id'], unique=False)
    op.create_table('staff_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_tokens_staff_id_staff')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_staff_tokens'))
    )
    op.create_index(op.f('ix_staff_tokens_staff_id'), 'staff_tokens', ['staff_id'], unique=False)
    op.create_table('staff_login_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failed_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_login_failures'))
    )
    op.create_index('ix_staff_login_failures_username_address', 'staff_login_failures',
                    ['username', 'address', 'failed_at'], unique=False)
    op.create_index('ix_staff_login_failures_address', 'staff_login_failures', ['address', 'failed_at'],
                    unique=False)

    op.create_table('staff_status_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('max_chats', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_status_events_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_status_events'))
    )
    op.create_index(op.f('ix_staff_status_events_staff_id'), 'staff_status_events', ['staff_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_staff_status_events_staff_id'), table_name='staff_status_events')
    op.drop_table('staff_status_events')
    op.drop_index('ix_staff_login_failures_address', table_name='staff_login_failures')
    op.drop_index('ix_staff_login_failures_username_address', table_name='staff_login_failures')
    op.drop_table('staff_login_failures')
    op.drop_index(op.f('ix_staff_tokens_staff_id'), table_name='staff_tokens')
    op.drop_table('staff_tokens')
    op.drop_index(op.f('ix_staff_sessions_staff_id'), table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_table('staff')
