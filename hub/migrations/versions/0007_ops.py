"""operations: mapping version per delivery and attempt, forgotten callers, audit log

Revision ID: 0007_ops
Revises: 0004_claims
Create Date: 2026-12-02 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ops"
down_revision = "0004_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mapping_version", sa.String(length=64), nullable=True))
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mapping_version", sa.String(length=64), nullable=True))
    op.create_table(
        "forgotten_callers",
        sa.Column("number_hash", sa.String(length=64), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("forgotten_callers")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("mapping_version")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("mapping_version")
