"""Alembic environment: the engine comes from the caller (hub.store.db.migrate), never from a file."""

from __future__ import annotations

from alembic import context

from hub.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
