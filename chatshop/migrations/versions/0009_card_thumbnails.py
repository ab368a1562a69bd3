"""card thumbnails: media ids uploaded to each WeChat account, kept until shortly before they expire

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('card_thumbnails',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('image_key', sa.String(length=64), nullable=False),
    sa.Column('image', sa.Text(), nullable=False),
    sa.Column('media_id', sa.String(length=255), nullable=False),
    sa.Column('uploaded_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('app_id', 'image_key', name=op.f('pk_card_thumbnails'))
    )


def downgrade() -> None:
    op.drop_table('card_thumbnails')
