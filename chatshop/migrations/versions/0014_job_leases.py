"""job leases: which process runs each scheduler job

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 10:12:40.512204
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=160), nullable=True),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acquired_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', storage.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases'))
    )


def downgrade() -> None:
    op.drop_table('job_leases')
