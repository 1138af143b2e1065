"""dispatch indexes: what the dispatcher and a delivery job ask on every pass is found by index

The dispatcher asks, several times a second, whether each destination has a delivery due and
which ones: (destination, status, due_at) answers both from the index alone. With
(destination, status) beside (status, due_at), SQLite picked the latter for a destination with
nothing due and read every other destination's pending backlog to find that out.

A delivery job reads which versions were folded into each of its deliveries (`superseded_by`):
without an index that read the whole table per batch. Few rows are ever folded, so the index
holds only those (partial: the column is null everywhere else).

Revision ID: 0010_dispatch_indexes
Revises: 0009_call_search
Create Date: 2026-12-02 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_dispatch_indexes"
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
    folded = sa.text("superseded_by IS NOT NULL")
    op.create_index(
        "ix_deliveries_superseded_by",
        "deliveries",
        ["superseded_by"],
        unique=False,
        sqlite_where=folded,
        postgresql_where=folded,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_superseded_by", table_name="deliveries")
    op.create_index("ix_deliveries_destination_status", "deliveries", ["destination", "status"], unique=False)
    op.drop_index("ix_deliveries_destination_status_due", table_name="deliveries")
