"""dialogue state (conversation trackers, handoff marks)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:45:00
"""

from __future__ import annotations

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
