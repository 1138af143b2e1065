"""due by destination: a destination's due deliveries are found through one index

The dispatcher asks, several times a second, whether each destination has a delivery due and
which ones: (destination, status, due_at) answers both from the index alone. With
(destination, status) beside (status, due_at), SQLite picked the latter for a destination with
nothing due and read every other destination's pending backlog to find that out.

Revision ID: 0010_due_by_destination
Revises: 0009_call_search
Create Date: 2026-12-02 16:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_due_by_destination"
down_revision = "0009_call_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_destination_status_due",
        "deliveries",
        ["destination", "status", "due_at"],
        unique=False,
    )
    op.drop_index("ix_deliveries_destination_status", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_destination_status", "deliveries", ["destination", "status"], unique=False)
    op.drop_index("ix_deliveries_destination_status_due", table_name="deliveries")
