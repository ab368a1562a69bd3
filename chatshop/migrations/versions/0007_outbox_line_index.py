"""outbox line index: each customer's pending and sending messages, by id

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_messages_line', ['customer_id', 'id'], unique=False, sqlite_where=sa.text("delivery IN ('pending', 'sending')"), postgresql_where=sa.text("delivery IN ('pending', 'sending')"))


def downgrade() -> None:
    with op.batch_alter_table('conversation_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_messages_line', sqlite_where=sa.text("delivery IN ('pending', 'sending')"), postgresql_where=sa.text("delivery IN ('pending', 'sending')"))
