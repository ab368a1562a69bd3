"""unanswered questions: the FAQ the customer then picked from the 猜你想问 menu

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('unanswered_questions') as batch:
        batch.add_column(sa.Column('chosen_faq_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('unanswered_questions') as batch:
        batch.drop_column('chosen_faq_id')
