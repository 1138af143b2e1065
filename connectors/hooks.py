"""What a connector may plug into the hub besides delivering: `hub <type> ...` commands and admin reports.

The hub finds them through the registry and hands them `HubServices`: configuration, rendering
and read access to the delivery store. A connector never imports the application; the hub never
names a connector.

- Commands: `connectors/<type>/cli.py` has `register(commands)`, which adds its sub-parsers to
  the `hub` command and sets the default `connector_command` to a `CommandHandler`.
- Admin reports: `Connector.admin_reports` lists the read-only reports the admin API serves at
  `/api/destinations/<id>/<report name>` for that connector's destinations.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectors.base import DestinationSettings
from hub.core.events import CallEvent
from hub.core.records import RenderedRecord


@dataclass(frozen=True)
class StoredDelivery:
    """One delivery to a destination as the hub's store holds it."""

    source: str
    call_id: str
    status: str
    reason: str | None
    external_ids: Mapping[str, Any]


class StoredRecords(Protocol):
    """Read access to what the hub stored for a destination."""

    def deliveries(self, destination_id: str, since: datetime) -> Sequence[StoredDelivery]:
        """The destination's deliveries created at or after `since`."""

    def connector_state(self, destination_id: str, key_prefix: str) -> Sequence[tuple[str, Any]]:
        """(key, value) of what the connector remembered (`ConnectorContext.put_state`) under keys with this prefix."""


class HubServices(StoredRecords, Protocol):
    """What the hub offers a connector's commands."""

    def destination_ids(self, type_name: str) -> list[str]:
        """The configured destinations of this connector type, in hub.yaml order."""

    def destination(self, destination_id: str) -> DestinationSettings:
        """A destination's settings; in sandbox mode `sandbox_url` points at a running fake."""

    def render(self, destination_id: str, event: CallEvent) -> Sequence[RenderedRecord]:
        """What the destination's mappings render for `event` (Skips left out)."""


#: Runs a parsed `hub <type> ...` command; returns the exit code.
CommandHandler = Callable[[argparse.Namespace, HubServices], int]


@dataclass(frozen=True)
class AdminReport:
    """A read-only report served at `/api/destinations/<id>/<name>?since=<ISO time>`."""

    name: str
    #: One line for the OpenAPI document, and what its 200 answer holds.
    summary: str
    response: str
    #: How the connector's destinations are called in messages ("GA4": "no GA4 destination x").
    destination_label: str
    #: The JSON body (besides `destination` and `since`) from the destination's stored deliveries.
    build: Callable[[StoredRecords, str, datetime], Mapping[str, Any]]
    #: Period covered when the request gives no `since`.
    default_days: int = 30
