"""Gauges read from the database at scrape time: the same answer from every process.

Counters live in each process (hub.metrics); what is waiting is a fact of the database, so it is
counted there when Prometheus asks instead of being kept in step by every worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.pauses import paused_destinations
from hub.store.db import Database
from hub.store.models import Delivery, Receipt

#: Statuses reported even when no delivery has them, so every scrape has the same series.
STATUSES = ("pending", "queued", "sending", "delivered", "skipped", "held", "rejected", "failed")


class DatabaseCollector(Collector):
    """Backlog and state gauges for every configured destination and source."""

    def __init__(self, db: Database, config: HubConfig) -> None:
        self.db = db
        self.config = config

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        destinations = list(self.config.destinations)
        by_status = GaugeMetricFamily(
            "hub_deliveries", "Deliveries by destination and status", labels=["destination", "status"]
        )
        oldest = GaugeMetricFamily(
            "hub_oldest_due_delivery_age_seconds",
            "How long the oldest delivery that is due has waited to be sent (0 when none)",
            labels=["destination"],
        )
        waiting = GaugeMetricFamily(
            "hub_receipts_waiting", "Stored webhook deliveries not parsed yet", labels=["source"]
        )
        paused = GaugeMetricFamily(
            "hub_destination_paused",
            "1 while a destination is paused (by an operator, or by itself when its credentials were refused)",
            labels=["destination"],
        )
        with self.db.read_session() as session:
            counts = {
                (str(d), str(s)): int(n)
                for d, s, n in session.execute(
                    select(Delivery.destination, Delivery.status, func.count()).group_by(
                        Delivery.destination, Delivery.status
                    )
                )
            }
            due = dict(
                session.execute(
                    select(Delivery.destination, func.min(Delivery.due_at))
                    .where(Delivery.status == "pending", Delivery.due_at <= now)
                    .group_by(Delivery.destination)
                ).all()
            )
            unparsed = dict(
                session.execute(
                    select(Receipt.source, func.count())
                    .where(Receipt.status == "received")
                    .group_by(Receipt.source)
                ).all()
            )
            paused_now = paused_destinations(session)
        for destination in sorted({*destinations, *(d for d, _ in counts)}):
            for status in sorted({*STATUSES, *(s for d, s in counts if d == destination)}):
                by_status.add_metric([destination, status], counts.get((destination, status), 0))
            since = due.get(destination)
            age = (now - _aware(since)).total_seconds() if since is not None else 0.0
            oldest.add_metric([destination], max(age, 0.0))
            paused.add_metric([destination], 1.0 if destination in paused_now else 0.0)
        for source in sorted({*self.config.sources, *unparsed}):
            waiting.add_metric([source], int(unparsed.get(source, 0)))
        yield from (by_status, oldest, waiting, paused)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
