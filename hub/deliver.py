"""Worker side of delivery: bring a batch of calls up to date at one destination.

The database decides: only deliveries still `queued` by the dispatcher are sent, every attempt
is recorded with what was sent and answered, and the outcome sets what happens next
(retry with backoff, rejected, failed, held, skipped or delivered).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from connectors.base import (
    BatchResult,
    Delivered,
    DeliveryError,
    DeliveryItem,
    Held,
    ItemOutcome,
    PermanentError,
    Skipped,
)
from hub import metrics
from hub.config import DestinationConfig
from hub.dispatch import DELIVERY_LEASE_S
from hub.events import load_event
from hub.records import RenderedRecord, Skip
from hub.render import RenderFailed, render_all
from hub.runtime import Runtime
from hub.store.models import Attempt, Call, Delivery, Event

log = logging.getLogger("hub.deliver")


def stored_record(record: RenderedRecord) -> dict[str, Any]:
    return {
        "mapping": record.mapping,
        "target": record.target,
        "fields": dict(record.fields),
        "match": list(record.match),
    }


def backoff_seconds(attempt: int, retry_after: float | None, base_s: float, max_s: float) -> float:
    """Exponential backoff with full jitter over the upper half, never sooner than Retry-After."""
    ceiling = min(max_s, base_s * (2 ** max(attempt - 1, 0)))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def deliver(runtime: Runtime, destination_id: str, delivery_ids: Sequence[str]) -> dict[str, str]:
    """Send the still-queued deliveries among `delivery_ids`; returns id -> resulting status."""
    destination = runtime.config.destinations.get(destination_id)
    if destination is None:
        return _fail_all(
            runtime, delivery_ids, "unknown_destination", f"destination {destination_id!r} is not in hub.yaml"
        )
    started = datetime.now(UTC)
    items, early = _prepare(runtime, destination, delivery_ids)
    result = BatchResult()
    if items:
        connector = runtime.connector(destination_id)
        clock = time.monotonic()
        result = connector.deliver(items)
        metrics.SEND_LATENCY.labels(destination=destination_id).observe(time.monotonic() - clock)
    result.outcomes.update(early)
    return _record(runtime, destination, result, started)


def _prepare(
    runtime: Runtime, destination: DestinationConfig, delivery_ids: Sequence[str]
) -> tuple[list[DeliveryItem], dict[str, ItemOutcome]]:
    items: list[DeliveryItem] = []
    early: dict[str, ItemOutcome] = {}
    with runtime.db.session() as session:
        # Claim atomically: a second job carrying the same ids (the dispatcher re-drove them after
        # their lease expired) finds them `sending` and leaves them alone.
        now = datetime.now(UTC)
        claimed = session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.status == "queued")
            .values(status="sending", lease_until=now + timedelta(seconds=DELIVERY_LEASE_S), updated_at=now)
            .returning(Delivery.id)
        ).all()
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(claimed))).all()
        for row in rows:
            call_row = session.get(Call, row.call_id)
            event_row = session.get(Event, row.event_id)
            if call_row is None or event_row is None:
                early[row.id] = PermanentError("the call or its version is missing", reason="missing_call")
                continue
            call = load_event(call_row.state)
            try:
                rendered = render_all(runtime.mappings.get(destination), call)
            except RenderFailed as exc:
                early[row.id] = PermanentError(exc.message, reason="mapping")
                continue
            records = [r for r in rendered if isinstance(r, RenderedRecord)]
            row.records = [stored_record(r) for r in records]
            if rendered and not records:
                reasons = "; ".join(r.reason for r in rendered if isinstance(r, Skip))
                early[row.id] = Skipped("no_mapping_matched", reasons)
                continue
            items.append(
                DeliveryItem(
                    delivery_id=row.id,
                    call=call,
                    trigger=load_event(event_row.payload),
                    records=records,
                    attempt=row.attempts + 1,
                )
            )
    return items, early


def _record(
    runtime: Runtime, destination: DestinationConfig, result: BatchResult, started: datetime
) -> dict[str, str]:
    finished = datetime.now(UTC)
    exchanges = [asdict(exchange) for exchange in result.exchanges]
    statuses: dict[str, str] = {}
    base_s, max_s = destination.retry_base_s, destination.retry_max_s
    with runtime.db.session() as session:
        for delivery_id, outcome in result.outcomes.items():
            row = session.get(Delivery, delivery_id)
            if row is None or row.status != "sending":
                continue
            row.attempts += 1
            status, reason, message, retry_after = _apply(row, outcome, destination, finished, base_s, max_s)
            session.add(
                Attempt(
                    delivery_id=row.id,
                    number=row.attempts,
                    started_at=started,
                    finished_at=finished,
                    outcome=status if status != "pending" else "retry",
                    reason=reason,
                    message=message,
                    retry_after_s=retry_after,
                    exchanges=exchanges,
                )
            )
            statuses[delivery_id] = status
            metrics.DELIVERY_OUTCOMES.labels(
                destination=destination.id,
                outcome=status if status != "pending" else "retry",
                reason=reason or "",
            ).inc()
            if status == "delivered":
                metrics.DELIVERY_LATENCY.labels(destination=destination.id).observe(
                    (finished - row.created_at).total_seconds()
                )
            log.info(
                "delivery attempt",
                extra={
                    "destination": destination.id,
                    "delivery_id": row.id,
                    "call_id": row.call_id,
                    "attempt": row.attempts,
                    "outcome": status,
                    "reason": reason,
                },
            )
    return statuses


def _apply(
    row: Delivery,
    outcome: ItemOutcome,
    destination: DestinationConfig,
    now: datetime,
    base_s: float,
    max_s: float,
) -> tuple[str, str | None, str | None, float | None]:
    row.updated_at = now
    row.lease_until = None
    retry_after: float | None = None
    if isinstance(outcome, Delivered):
        row.status, row.reason, row.message = "delivered", None, outcome.note or None
        row.external_ids = dict(outcome.external_ids)
    elif isinstance(outcome, Skipped):
        row.status, row.reason, row.message = "skipped", outcome.reason, outcome.note or None
    elif isinstance(outcome, Held):
        row.status, row.reason, row.message = "held", outcome.reason, outcome.note or None
    elif (
        isinstance(outcome, DeliveryError)
        and outcome.retryable
        and row.attempts - row.retry_base < destination.max_attempts
    ):
        retry_after = outcome.retry_after
        row.status, row.reason, row.message = "pending", outcome.reason, outcome.message
        row.due_at = now + timedelta(seconds=backoff_seconds(row.attempts, retry_after, base_s, max_s))
    elif isinstance(outcome, DeliveryError) and outcome.retryable:
        row.status, row.reason = "failed", outcome.reason
        row.message = f"gave up after {row.attempts - row.retry_base} attempts: {outcome.message}"
    else:
        assert isinstance(outcome, DeliveryError)
        row.status, row.reason, row.message = "rejected", outcome.reason, outcome.message
    if row.status != "pending":
        row.finished_at = now
    return row.status, row.reason, row.message, retry_after


def _fail_all(runtime: Runtime, delivery_ids: Sequence[str], reason: str, message: str) -> dict[str, str]:
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        for row in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))):
            row.status, row.reason, row.message = "failed", reason, message
            row.updated_at = row.finished_at = now
            row.lease_until = None
    return dict.fromkeys(delivery_ids, "failed")
