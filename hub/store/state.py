"""Connector state in the database (the `StateStore` of hub.coordination)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from hub.store.db import Database
from hub.store.models import ConnectorState


class DatabaseStateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, destination_id: str, key: str) -> dict[str, Any] | None:
        with self.db.read_session() as session:
            row = session.scalar(
                select(ConnectorState).where(
                    ConnectorState.destination == destination_id, ConnectorState.key == key
                )
            )
            return dict(row.value) if row is not None else None

    def put(self, destination_id: str, key: str, value: Mapping[str, Any]) -> None:
        with self.db.session() as session:
            row = session.get(ConnectorState, (destination_id, key))
            now = datetime.now(UTC)
            if row is None:
                session.add(
                    ConnectorState(destination=destination_id, key=key, value=dict(value), updated_at=now)
                )
            else:
                row.value = dict(value)
                row.updated_at = now
