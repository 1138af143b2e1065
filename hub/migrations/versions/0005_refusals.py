"""refusals: refused deliveries are kept as receipts (status `refused`) with a credential digest

Revision ID: 0005_refusals
Revises: 0004_claims
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_refusals"
down_revision = "0004_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_digest", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_receipts_status_source_received", ["status", "source", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_status_source_received")
        batch_op.drop_column("credential_digest")
