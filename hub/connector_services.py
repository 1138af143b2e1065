"""What the hub offers connector commands and admin reports (`connectors.hooks.HubServices`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from connectors.base import DestinationSettings
from connectors.hooks import StoredDelivery
from hub.config import HubConfig
from hub.core.errors import ConfigError
from hub.core.events import CallEvent
from hub.core.records import RenderedRecord
from hub.local_server import LocalServer, start_sandboxes
from hub.render import MappingCache, render_all
from hub.runtime import connector_settings
from hub.store.db import Database
from hub.store.models import Call, ConnectorState, Delivery


class StoreRecords:
    """`StoredRecords` over the delivery store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def deliveries(self, destination_id: str, since: datetime) -> list[StoredDelivery]:
        with self.db.read_session() as session:
            rows = session.execute(
                select(Call.source, Delivery.call_id, Delivery.status, Delivery.reason, Delivery.external_ids)
                .join(Call, Call.id == Delivery.call_id)
                .where(Delivery.destination == destination_id, Delivery.created_at >= since)
            ).all()
        return [
            StoredDelivery(source, call_id, status, reason, external_ids or {})
            for source, call_id, status, reason, external_ids in rows
        ]

    def connector_state(self, destination_id: str, key_prefix: str) -> list[tuple[str, Any]]:
        with self.db.read_session() as session:
            rows = session.execute(
                select(ConnectorState.key, ConnectorState.value).where(
                    ConnectorState.destination == destination_id,
                    ConnectorState.key.startswith(key_prefix, autoescape=True),
                )
            ).all()
        return [(key, value) for key, value in rows]


class StoreServices(StoreRecords):
    """`HubServices` over hub.yaml, its mappings and the delivery store, for `hub <type> ...` commands.

    A sandbox destination talks to the fake a running `hub run` published, else to one started
    here and stopped by `close`.
    """

    def __init__(self, config: HubConfig, db: Database, sandbox_urls: Mapping[str, str]) -> None:
        super().__init__(db)
        self.config = config
        self.sandbox_urls = dict(sandbox_urls)
        self.mappings = MappingCache(config)
        self.fakes: list[LocalServer] = []

    def destination_ids(self, type_name: str) -> list[str]:
        return [d.id for d in self.config.destinations.values() if d.type == type_name]

    def destination(self, destination_id: str) -> DestinationSettings:
        destination = self.config.destinations.get(destination_id)
        if destination is None:
            raise ConfigError([f"no destination {destination_id!r} in {self.config.path}"])
        if destination.sandbox and destination.id not in self.sandbox_urls:
            servers, urls = start_sandboxes([destination])
            self.fakes += servers
            self.sandbox_urls.update(urls)
        return connector_settings(destination, self.sandbox_urls.get(destination.id))

    def render(self, destination_id: str, event: CallEvent) -> Sequence[RenderedRecord]:
        mappings = self.mappings.get(self.config.destinations[destination_id])
        return [r for r in render_all(mappings, event) if isinstance(r, RenderedRecord)]

    def close(self) -> None:
        for fake in self.fakes:
            fake.stop()
        self.db.dispose()
