"""call search: calls are searched and ordered by when they happened (their first event)

Revision ID: 0009_call_search
Revises: 0008_console
Create Date: 2026-12-02 08:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_call_search"
down_revision = "0008_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_first_event_at", "calls", ["first_event_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_first_event_at", table_name="calls")
