"""receipt bodies compressed with lz4 on PostgreSQL: pglz, the default, was the largest single
server-side cost of storing a webhook (a body over ~2 KB is compressed on insert)

Revision ID: 0010_pgingest
Revises: 0009_call_search
Create Date: 2026-12-02 13:15:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.engine import Connection

revision = "0010_pgingest"
down_revision = "0009_call_search"
branch_labels = None
depends_on = None


def _compressions(bind: Connection) -> list[str]:
    """The column compressions the server offers: none before PostgreSQL 14 (and on SQLite);
    lz4 only where the server was built with it."""
    if bind.dialect.name != "postgresql":
        return []
    row = bind.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).first()
    return list(row[0] or []) if row is not None else []


def upgrade() -> None:
    # Only rows written from now on; stored ones stay as they are and read the same.
    if "lz4" in _compressions(op.get_bind()):
        op.execute("ALTER TABLE receipts ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if _compressions(op.get_bind()):
        op.execute("ALTER TABLE receipts ALTER COLUMN body SET COMPRESSION DEFAULT")
