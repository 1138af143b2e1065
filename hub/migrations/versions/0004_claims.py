"""claims: a token and a short lease on every claimed receipt and delivery

Revision ID: 0004_claims
Revises: 0003
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_claims"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
    # Claims taken before tokens existed cannot be fenced: queued deliveries were never sent and
    # go back to pending; claimed receipts are handed out again (ingest is idempotent).
    op.execute("UPDATE deliveries SET status = 'pending', lease_until = NULL WHERE status = 'queued'")
    op.execute("UPDATE receipts SET claimed_at = NULL WHERE status = 'received'")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claim_token")
