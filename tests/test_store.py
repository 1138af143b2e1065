"""The schema: migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from hub.store.db import Database
from hub.store.models import Base
from hub.store.state import DatabaseStateStore


def test_migrations_create_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent
    assert db.is_current()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    db.dispose()
    assert differences == []


def test_connector_state_reads_what_was_written_on_both_databases(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    store = DatabaseStateStore(db)
    store.put_many("hubspot", {"contact:+14155550100": {"id": "101"}, "call:CAL1": {"id": "7"}})
    store.put("salesforce", "contact:+14155550100", {"id": "003A"})

    first = store.get("hubspot", "contact:+14155550100")
    assert first == {"id": "101"}
    assert store.get("salesforce", "contact:+14155550100") == {"id": "003A"}
    assert store.get("hubspot", "contact:+19995550100") is None
    assert store.get("ga4", "call:CAL1") is None
    # Every read is the stored value, never an object a caller changed.
    assert first is not None
    first["id"] = "changed"
    assert store.get("hubspot", "contact:+14155550100") == {"id": "101"}
    store.put("hubspot", "contact:+14155550100", {"id": "102"})
    assert store.get("hubspot", "contact:+14155550100") == {"id": "102"}
    db.dispose()


def test_postgresql_compresses_large_values_with_lz4_where_the_server_has_it(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    db = Database(database_url)
    try:
        with db.read_session() as session:
            offered = session.scalar(
                text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
            )
            chosen = session.scalar(text("SHOW default_toast_compression"))
    finally:
        db.dispose()
    assert chosen == ("lz4" if offered and "lz4" in offered else "pglz")
