"""Everything one process needs, built once from settings and hub.yaml.

The web app, RQ jobs, the dispatcher and the CLI all start from a `Runtime`; nothing is read
from the environment at import time.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors import registry as connector_registry
from connectors.base import Connector, ConnectorContext, DestinationSettings
from hub.claims import delivery_claim_alive
from hub.config import DestinationConfig, HubConfig, SourceConfig, admin_token, load_config
from hub.coordination import SharedContext
from hub.core.errors import ConfigError
from hub.core.secrets import Secret
from hub.refusals import RefusalKeeper, RefusalPolicy
from hub.reload import Reloader
from hub.render import MappingCache
from hub.run_info import alive
from hub.settings import Settings
from hub.store.db import Database
from hub.store.receipt_writer import ReceiptWriter
from hub.store.state import DatabaseStateStore
from webhooks import registry as provider_registry
from webhooks.base import Provider, SourceSettings

log = logging.getLogger("hub.runtime")

#: Where `hub run` publishes the sandbox fakes' URLs for its child processes.
SANDBOX_URLS_FILE = "sandbox-urls.json"


def redis_client(url: str, *, timeout_s: float = 2.0) -> redis.Redis:
    """A client that fails fast: a hung Redis must not become provider timeouts (one retry only)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def connector_settings(destination: DestinationConfig, sandbox_url: str | None) -> DestinationSettings:
    """What a connector is given of its destination's configuration."""
    return DestinationSettings(
        id=destination.id,
        type=destination.type,
        credentials=destination.credentials,
        options=destination.options,
        sandbox_url=sandbox_url,
        rate_limit=destination.rate_limit,
        rate_window_s=destination.rate_window_s,
        timeout_s=destination.timeout_s,
    )


def load_hub_config(settings: Settings, *, generate_secrets: bool = True) -> HubConfig:
    return load_config(
        settings,
        generate_secrets=generate_secrets,
        known_providers=provider_registry.available(settings.mappings_dir),
        known_destination_types=connector_registry.types(),
        missing_credentials=_missing_credentials,
    )


def _missing_credentials(type_name: str, present: frozenset[str]) -> list[str]:
    return connector_registry.connector_class(type_name).missing_credentials(present)


@dataclass
class Runtime:
    settings: Settings
    config: HubConfig
    db: Database
    redis_url: str
    sandbox_urls: Mapping[str, str] = field(default_factory=dict)
    _providers: dict[str, Provider] = field(default_factory=dict)
    _connectors: dict[str, Connector] = field(default_factory=dict)
    _contexts: dict[str, SharedContext] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, *, sandbox_urls: Mapping[str, str] | None = None) -> Runtime:
        config = load_hub_config(settings)
        if settings.redis_url is None:
            raise ConfigError(["REDIS_URL is not set (hub run starts a private Redis and sets it)"])
        urls = dict(sandbox_urls) if sandbox_urls is not None else read_sandbox_urls(settings.data_dir)
        db = Database(settings.database_url)
        if not db.is_current():
            db.dispose()
            raise ConfigError(
                [f"the database schema is not current: run `hub migrate` ({_safe(settings.database_url)})"]
            )
        return cls(settings, config, db, settings.redis_url, urls)

    @functools.cached_property
    def redis(self) -> redis.Redis:
        return redis_client(self.redis_url)

    @functools.cached_property
    def admin_token(self) -> Secret:
        return admin_token(self.settings)[0]

    @functools.cached_property
    def receipt_writer(self) -> ReceiptWriter:
        return ReceiptWriter(self.db)

    @functools.cached_property
    def refusals(self) -> RefusalKeeper:
        return RefusalKeeper(self.db, RefusalPolicy.from_env())

    @functools.cached_property
    def mappings(self) -> MappingCache:
        return MappingCache(self.config)

    @functools.cached_property
    def reloader(self) -> Reloader:
        """Checked between jobs: changed hub.yaml or mapping files replace these once valid."""
        return Reloader(lambda: load_hub_config(self.settings), self._install, self.config)

    def _install(self, config: HubConfig, mappings: MappingCache) -> None:
        if set(config.destinations) != set(self.config.destinations):
            # A worker listens to the queues of the destinations it started with.
            log.warning(
                "destinations were added or removed: restart the workers so they serve every queue",
                extra={"destinations": sorted(config.destinations)},
            )
        # Connectors and providers were built from the previous configuration.
        self.config, self.mappings = config, mappings
        self._connectors.clear()
        self._providers.clear()

    @functools.cached_property
    def state_store(self) -> DatabaseStateStore:
        return DatabaseStateStore(self.db)

    def source(self, source_id: str) -> SourceConfig | None:
        return self.config.sources.get(source_id)

    def provider(self, source: SourceConfig) -> Provider:
        if source.id not in self._providers:
            settings = SourceSettings(source.id, source.default_region, dict(source.options))
            self._providers[source.id] = provider_registry.create(
                source.provider, settings, self.settings.mappings_dir
            )
        return self._providers[source.id]

    def destination_settings(self, destination: DestinationConfig) -> DestinationSettings:
        sandbox_url = self.sandbox_urls.get(destination.id) if destination.sandbox else None
        if destination.sandbox and sandbox_url is None:
            raise ConfigError(
                [f"destination {destination.id!r} has no credentials and no sandbox is running for it"]
            )
        return connector_settings(destination, sandbox_url)

    def context(self, destination: DestinationConfig) -> ConnectorContext:
        return self.shared_context(destination)

    def shared_context(self, destination: DestinationConfig) -> SharedContext:
        """One per destination and process: its connector, the dispatcher and the heartbeat share it."""
        if destination.id not in self._contexts:
            limits = dict(connector_registry.connector_class(destination.type).default_rate_limits)
            if destination.rate_limit:
                limits["default"] = (destination.rate_limit, destination.rate_window_s)
            limits.update(destination.rate_limits)
            self._contexts[destination.id] = SharedContext(
                self.redis,
                destination.id,
                self.state_store,
                limits,
                lock_ttl_s=self.settings.lease_s,
                claim_alive=functools.partial(delivery_claim_alive, self.db),
            )
        return self._contexts[destination.id]

    def renew_locks(self) -> int:
        """Extend the connector locks this process holds (called by a job's heartbeat)."""
        return sum(context.renew_locks() for context in list(self._contexts.values()))

    def connector(self, destination_id: str) -> Connector:
        if destination_id not in self._connectors:
            destination = self.config.destinations[destination_id]
            cls = connector_registry.connector_class(destination.type)
            self._connectors[destination_id] = cls(
                self.destination_settings(destination), self.context(destination)
            )
        return self._connectors[destination_id]

    def close(self) -> None:
        writer = self.__dict__.get("receipt_writer")
        if isinstance(writer, ReceiptWriter):
            writer.close()
        self.db.dispose()


def _safe(url: str) -> str:
    """A database URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def write_sandbox_urls(data_dir: Path, urls: Mapping[str, str]) -> None:
    """Published by `hub run` for its workers and for connector commands and `hub check` run beside it."""
    (data_dir / SANDBOX_URLS_FILE).write_text(json.dumps({"pid": os.getpid(), "urls": dict(urls)}, indent=2))


def read_sandbox_urls(data_dir: Path) -> dict[str, str]:
    """The local fakes of the `hub run` using this data directory, if it is still running.

    A file left by a `hub run` that has stopped is ignored: whatever now listens on those ports is
    not ours, and no call data goes there.
    """
    path = data_dir / SANDBOX_URLS_FILE
    if not path.exists():
        return {}
    data: Any = json.loads(path.read_text())
    pid = data.get("pid") if isinstance(data, dict) else None
    if not isinstance(pid, int) or not alive(pid):
        return {}
    return {str(k): str(v) for k, v in dict(data.get("urls", {})).items()}
