"""What `hub ga4 validate|report` needs from the hub, read through the services it offers connectors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from zoneinfo import ZoneInfo

from connectors.base import DestinationSettings
from connectors.ga4.connector import GA4Connector
from connectors.ga4.ledger import CALL_KEY_PREFIX
from connectors.ga4.reporting import DayKey, ReportWindow
from connectors.hooks import HubServices
from hub.core.errors import ConfigError
from hub.core.events import CallEvent
from hub.core.fields import timestamp
from hub.core.records import RenderedRecord


class HubEnvironment:
    """`Ga4Environment` over hub.yaml and the delivery store, as the hub hands them to connectors."""

    def __init__(self, services: HubServices) -> None:
        self.services = services

    def destination_id(self, requested: str | None) -> str:
        """The GA4 destination a command is about: the one named, or the only one configured."""
        configured = self.services.destination_ids(GA4Connector.type)
        candidates = [d for d in configured if d == requested] if requested else configured
        if len(candidates) != 1:
            names = ", ".join(configured) or "none"
            raise ConfigError([f"name one GA4 destination with --destination (configured: {names})"])
        return candidates[0]

    def ga4_destination(self, destination_id: str | None) -> DestinationSettings:
        return self.services.destination(self.destination_id(destination_id))

    def render(self, destination_id: str, event: CallEvent) -> Sequence[RenderedRecord]:
        return self.services.render(destination_id, event)

    def delivered_counts(self, destination_id: str, window: ReportWindow) -> Mapping[DayKey, int]:
        """Events the hub sent, per (day, source, event name), from the connector's own record.

        The GA4 connector records every event it sent with the event's timestamp (the day GA4
        files it under), whatever later happened to the delivery, so a call whose other event
        failed, or whose state moved on, is still counted on the right day.
        """
        zone = ZoneInfo(window.timezone)
        counts: Counter[DayKey] = Counter()
        for key, value in self.services.connector_state(destination_id, CALL_KEY_PREFIX):
            source = key.split(":", 2)[1]
            for name, mark in dict((value or {}).get("events", {})).items():
                if mark.get("status") != "sent":
                    continue
                when = timestamp(mark.get("event_time") or mark.get("at"))
                if when is None:
                    continue
                day: date = when.astimezone(zone).date()
                if window.start <= day <= window.end:
                    counts[(day, source, name)] += 1
        return counts
