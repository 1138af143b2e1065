"""receipt claims index: the dispatcher counts claimed receipts from an index, not their rows

Every full pass asks which claims on unparsed receipts lapsed and how many are in flight. With only
(status, id), SQLite read each unparsed receipt's row for its claim columns, which are stored after
the raw body (several KB, in overflow pages): 6 ms a query at 3,000 unparsed receipts, twice a
pass, four passes a second, on a worker's core and under its GIL. (status, claim_token,
lease_until) answers both from the index alone (0.02 ms).

Revision ID: 0011_receipt_claims_index
Revises: 0010_dispatch_indexes
Create Date: 2026-12-03 03:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011_receipt_claims_index"
down_revision = "0010_dispatch_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_receipts_status_claim", "receipts", ["status", "claim_token", "lease_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_receipts_status_claim", table_name="receipts")
