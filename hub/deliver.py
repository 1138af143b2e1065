"""Worker side of delivery: bring a batch of calls up to date at one destination.

The database decides: only deliveries still `queued` by the dispatcher are sent, every attempt
is recorded with what was sent and answered, and the outcome sets what happens next
(retry with backoff, rejected, failed, held, skipped or delivered).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import (
    LOCAL_RETRY_REASONS,
    BatchResult,
    Delivered,
    DeliveryError,
    DeliveryItem,
    Held,
    ItemOutcome,
    PermanentError,
    RetryableError,
    Skipped,
)
from hub import metrics
from hub.config import DestinationConfig
from hub.core.errors import ConfigError
from hub.core.events import load_event
from hub.core.records import RenderedRecord, Skip
from hub.dispatch import DELIVERY_LEASE_S
from hub.pauses import PAUSING_REASONS, hold_for_credentials
from hub.render import RenderFailed, render_covering
from hub.runtime import Runtime
from hub.store.models import Attempt, Batch, Call, Delivery, Event

log = logging.getLogger("hub.deliver")


#: Stored history never keeps hashed personal data (a bare SHA-256 of a phone number can be
#: reversed by trying every number); the field's presence is kept so comparisons still see it.
HASHED = "<hashed>"


def history_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: HASHED if name.startswith("user_data.") or "sha256" in name else value
        for name, value in fields.items()
    }


def stored_record(record: RenderedRecord) -> dict[str, Any]:
    return {
        "mapping": record.mapping,
        "target": record.target,
        "fields": history_fields(record.fields),
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
        try:
            connector = runtime.connector(destination_id)
        except Exception as exc:  # noqa: BLE001
            # Recorded on every delivery (and replayable once fixed), not left to a lease expiry.
            error = PermanentError(
                f"cannot set up destination {destination_id!r}: {_describe(exc)}", reason="config"
            )
            result = BatchResult(outcomes=dict.fromkeys((item.delivery_id for item in items), error))
        else:
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
        calls = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_({r.call_id for r in rows})))}
        versions = {
            e.id: e for e in session.scalars(select(Event).where(Event.id.in_({r.event_id for r in rows})))
        }
        folded = _folded_kinds(session, [row.id for row in rows])
        for row in rows:
            call_row, event_row = calls.get(row.call_id), versions.get(row.event_id)
            if call_row is None or event_row is None:
                early[row.id] = PermanentError("the call or its version is missing", reason="missing_call")
                continue
            try:
                call = load_event(call_row.state)
                trigger = load_event(event_row.payload)
                kinds = [trigger.kind, *(k for k in folded[row.id] if k != trigger.kind)]
                rendered = render_covering(runtime.mappings.get(destination), call, kinds)
            except RenderFailed as exc:
                early[row.id] = PermanentError(exc.message, reason="mapping")
                continue
            except Exception as exc:  # noqa: BLE001
                # A stored call the code cannot read, or mappings that no longer load: the
                # delivery says so and can be replayed after the fix.
                early[row.id] = PermanentError(_describe(exc), reason="prepare")
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
                    trigger=trigger,
                    records=records,
                    attempt=row.attempts + 1,
                )
            )
    return items, early


def _folded_kinds(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per delivery, the kinds of the versions folded into it (and into those, transitively)."""
    kinds: dict[str, list[str]] = {delivery_id: [] for delivery_id in delivery_ids}
    root_of = {delivery_id: delivery_id for delivery_id in delivery_ids}
    frontier = list(delivery_ids)
    while frontier:
        rows = session.execute(
            select(Delivery.id, Delivery.superseded_by, Event.kind)
            .join(Event, Event.id == Delivery.event_id)
            .where(Delivery.superseded_by.in_(frontier))
        ).all()
        frontier = []
        for row_id, folded_into, kind in rows:
            root = root_of[str(folded_into)]
            root_of[row_id] = root
            if kind not in kinds[root]:
                kinds[root].append(kind)
            frontier.append(row_id)
    return kinds


def _describe(exc: Exception) -> str:
    return "; ".join(exc.problems) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"


def _record(
    runtime: Runtime, destination: DestinationConfig, result: BatchResult, started: datetime
) -> dict[str, str]:
    finished = datetime.now(UTC)
    shared = [asdict(e) for e in result.exchanges if not e.delivery_ids]
    own: dict[str, list[dict[str, Any]]] = {}
    for exchange in result.exchanges:
        for delivery_id in exchange.delivery_ids:
            own.setdefault(delivery_id, []).append(asdict(exchange))
    statuses: dict[str, str] = {}
    with runtime.db.session() as session:
        batch_id = None
        if shared and len(result.outcomes) > 1:
            batch_id = f"bat_{secrets.token_hex(12)}"
            session.add(
                Batch(
                    id=batch_id,
                    destination=destination.id,
                    size=len(result.outcomes),
                    started_at=started,
                    finished_at=finished,
                    exchanges=shared,
                )
            )
        for delivery_id, outcome in result.outcomes.items():
            row = session.get(Delivery, delivery_id)
            if row is None or row.status != "sending":
                continue
            if isinstance(outcome, RetryableError) and outcome.reason in LOCAL_RETRY_REASONS:
                statuses[delivery_id] = _reschedule(row, outcome, finished)
                continue
            row.attempts += 1
            status, reason, message, retry_after = _apply(row, outcome, destination, finished)
            if status == "rejected" and reason in PAUSING_REASONS:
                status = hold_for_credentials(session, row, message or "", finished)
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
                    exchanges=own.get(delivery_id, []) + ([] if batch_id else shared),
                    batch_id=batch_id,
                )
            )
            statuses[delivery_id] = status
            _observe(destination, row, status, reason, finished)
    return statuses


def _reschedule(row: Delivery, outcome: RetryableError, now: datetime) -> str:
    """The hub itself said "not now": try again soon, with the retry budget untouched."""
    row.status, row.reason, row.message = "pending", outcome.reason, outcome.message
    row.lease_until = None
    row.updated_at = now
    row.due_at = now + timedelta(seconds=max(outcome.retry_after or 0.0, 1.0) * random.uniform(1.0, 1.2))
    return "pending"


def _observe(
    destination: DestinationConfig, row: Delivery, status: str, reason: str | None, now: datetime
) -> None:
    outcome = status if status != "pending" else "retry"
    metrics.DELIVERY_OUTCOMES.labels(destination=destination.id, outcome=outcome, reason=reason or "").inc()
    if status == "delivered":
        metrics.DELIVERY_LATENCY.labels(destination=destination.id).observe(
            (now - row.created_at).total_seconds()
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


def _apply(
    row: Delivery, outcome: ItemOutcome, destination: DestinationConfig, now: datetime
) -> tuple[str, str | None, str | None, float | None]:
    row.updated_at = now
    row.lease_until = None
    retry_after: float | None = None
    tries = row.attempts - row.retry_base
    if isinstance(outcome, Delivered):
        row.status, row.reason, row.message = "delivered", None, outcome.note or None
        row.external_ids = dict(outcome.external_ids)
    elif isinstance(outcome, Skipped):
        row.status, row.reason, row.message = "skipped", outcome.reason, outcome.note or None
    elif isinstance(outcome, Held):
        row.status, row.reason, row.message = "held", outcome.reason, outcome.note or None
    elif isinstance(outcome, DeliveryError) and outcome.retryable and tries < destination.max_attempts:
        retry_after = outcome.retry_after
        row.status, row.reason, row.message = "pending", outcome.reason, outcome.message
        delay = backoff_seconds(tries, retry_after, destination.retry_base_s, destination.retry_max_s)
        row.due_at = now + timedelta(seconds=delay)
    elif isinstance(outcome, DeliveryError) and outcome.retryable:
        row.status, row.reason = "failed", outcome.reason
        row.message = f"gave up after {tries} attempts: {outcome.message}"
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
