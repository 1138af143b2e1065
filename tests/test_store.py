"""The schema: migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.store.db import Database
from hub.store.models import Base


def test_migrations_create_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent
    assert db.is_current()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    db.dispose()
    assert differences == []
