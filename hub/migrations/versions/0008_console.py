"""console: users, login failures, audit targets, destination pauses, issue states, replay jobs, alerts

Revision ID: 0008_console
Revises: 0007_ops
Create Date: 2026-12-02 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_console"
down_revision = "0007_ops"
branch_labels = None
depends_on = None


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "console_login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_login_failures_key_at", "console_login_failures", ["key", "at"])
    # The audit log (revision 0007) also records console actions, each on one target.
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=255), nullable=True))
    op.create_table(
        "destination_pauses",
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("paused_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _at("paused_at"),
        sa.PrimaryKeyConstraint("destination"),
    )
    op.create_table(
        "issue_states",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        _at("changed_at"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "replay_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alerts_sent",
        sa.Column("rule", sa.String(length=64), nullable=False),
        _at("sent_at"),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("rule"),
    )


def downgrade() -> None:
    op.drop_table("alerts_sent")
    op.drop_table("replay_jobs")
    op.drop_table("issue_states")
    op.drop_table("destination_pauses")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("target")
    op.drop_index("ix_console_login_failures_key_at", table_name="console_login_failures")
    op.drop_table("console_login_failures")
    op.drop_table("console_users")
