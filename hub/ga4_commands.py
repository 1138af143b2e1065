"""What `hub ga4 validate|report` needs from the hub: GA4 settings, mappings and delivery counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from connectors import registry as connector_registry
from connectors.base import DestinationSettings
from connectors.ga4.coverage import CoverageRow, attribution_coverage, stored_attribution
from connectors.ga4.reporting import DayKey, ReportWindow
from hub.config import HubConfig
from hub.core.errors import ConfigError
from hub.core.events import CallEvent
from hub.core.fields import timestamp
from hub.core.records import RenderedRecord
from hub.local_server import LocalServer
from hub.render import load_destination_mappings, render_all
from hub.runtime import connector_settings, read_sandbox_urls
from hub.settings import Settings
from hub.store.db import Database
from hub.store.models import Call, ConnectorState, Delivery


class StoreGa4Environment:
    """Backed by hub.yaml and the delivery store; in sandbox mode by the fake `hub run` serves."""

    def __init__(self, settings: Settings, config: HubConfig) -> None:
        self.settings = settings
        self.config = config
        self.fakes: list[LocalServer] = []

    def ga4_destination(self, destination_id: str | None) -> DestinationSettings:
        candidates = [d for d in self.config.destinations.values() if d.type == "ga4"]
        if destination_id:
            candidates = [d for d in candidates if d.id == destination_id]
        if len(candidates) != 1:
            names = ", ".join(d.id for d in self.config.destinations.values() if d.type == "ga4") or "none"
            raise ConfigError([f"name one GA4 destination with --destination (configured: {names})"])
        destination = candidates[0]
        sandbox_url = None
        if destination.sandbox:
            sandbox_url = read_sandbox_urls(self.settings.data_dir).get(destination.id) or self._start_fake()
        return connector_settings(destination, sandbox_url)

    def _start_fake(self) -> str:
        fake = connector_registry.sandbox_app("ga4")
        if fake is None:
            raise ConfigError(["the ga4 connector has no local fake to run in sandbox mode"])
        server = LocalServer(fake).start()
        self.fakes.append(server)
        return server.url

    def render(self, destination_id: str, event: CallEvent) -> Sequence[RenderedRecord]:
        mappings = load_destination_mappings(self.config, self.config.destinations[destination_id])
        return [r for r in render_all(mappings, event) if isinstance(r, RenderedRecord)]

    def delivered_counts(self, destination_id: str, window: ReportWindow) -> Mapping[DayKey, int]:
        """Events the hub sent, per (day, source, event name), from the connector's own record.

        The GA4 connector records every event it sent with the event's timestamp (the day GA4
        files it under), whatever later happened to the delivery, so a call whose other event
        failed, or whose state moved on, is still counted on the right day.
        """
        zone = ZoneInfo(window.timezone)
        counts: Counter[DayKey] = Counter()
        db = Database(self.settings.database_url)
        try:
            with db.read_session() as session:
                rows = session.execute(
                    select(ConnectorState.key, ConnectorState.value).where(
                        ConnectorState.destination == destination_id, ConnectorState.key.like("call:%")
                    )
                )
                for key, value in rows:
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
        finally:
            db.dispose()
        return counts

    def close(self) -> None:
        for fake in self.fakes:
            fake.stop()


def coverage(db: Database, destination_id: str, since: datetime) -> dict[str, dict[str, Any]]:
    """Attribution coverage per source of the calls this GA4 destination saw since `since`."""
    with db.read_session() as session:
        rows = session.execute(
            select(Call.source, Delivery.call_id, Delivery.status, Delivery.reason, Delivery.external_ids)
            .join(Call, Call.id == Delivery.call_id)
            .where(Delivery.destination == destination_id, Delivery.created_at >= since)
        ).all()
    facts = []
    for source, call_id, status, reason, external_ids in rows:
        attribution = stored_attribution(status, reason, external_ids or {})
        if attribution is not None:
            facts.append(CoverageRow(source, call_id, attribution))
    return {
        source: {
            "calls": tally.calls,
            "attributed": tally.attributed,
            "pseudonymous": tally.pseudonymous,
            "unattributed": tally.unattributed,
            "share": tally.share,
        }
        for source, tally in attribution_coverage(facts).items()
    }


def format_coverage(by_source: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = ["Attribution coverage (calls that reached GA4 with the visitor's GA client id)"]
    lines.append(f"{'source':<14}{'calls':>7}{'attributed':>12}{'pseudonymous':>14}{'none':>7}{'share':>8}")
    for source, row in by_source.items():
        share = f"{row['share']:.0%}" if row["share"] is not None else "-"
        lines.append(
            f"{source:<14}{row['calls']:>7}{row['attributed']:>12}{row['pseudonymous']:>14}{row['unattributed']:>7}{share:>8}"
        )
    return lines
