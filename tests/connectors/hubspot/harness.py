"""Building blocks for the HubSpot connector tests: call events rendered by the shipped mappings,
the connector wired to a fake portal and real Redis, and the hub's retry loop in miniature."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import redis

from connectors.base import DeliveryError, DeliveryItem, DestinationSettings, ItemOutcome, RetryableError
from connectors.hubspot import HubSpotConnector
from hub.coordination import MemoryStateStore, SharedContext
from hub.core.events import Attribution, Call, Caller, CallEvent, Outcome
from hub.core.records import RenderedRecord
from hub.core.secrets import Secret
from hub.mapping import Mapping, load_mapping, registered_connector

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "pat-na1-test-token"
STARTED = datetime(2026, 5, 1, 15, 4, 5, tzinfo=UTC)


@cache
def shipped_mappings() -> tuple[Mapping, ...]:
    paths = [ROOT / "mappings" / "hubspot" / name for name in ("contact.yaml", "call.yaml")]
    return tuple(load_mapping(path, connector=registered_connector(path)) for path in paths)


def call_event(
    number: str | None = "+14155550100",
    call_id: str = "call-1",
    *,
    kind: str = "call.completed",
    status: str = "answered",
    minutes_later: int = 0,
    attribution: Attribution | None = None,
    outcome: Outcome | None = None,
    recording_url: str | None = "https://recordings.example.com/call-1.mp3",
    spam: bool = False,
) -> CallEvent:
    started = STARTED + timedelta(minutes=minutes_later)
    return CallEvent(
        provider="callrail",
        provider_call_id=call_id,
        kind=kind,
        occurred_at=started + timedelta(minutes=3),
        id=f"evt-{call_id}-{kind}",
        source="callrail",
        call=Call(
            started_at=started,
            duration_s=125,
            direction="inbound",
            status=status,
            spam=spam,
            recording_url=recording_url,
        ),
        caller=Caller(number=number, name="Ann Caller"),
        tracking_number="+18005550199",
        attribution=attribution
        or Attribution(
            source="google",
            medium="cpc",
            campaign="spring-sale",
            keyword="emergency plumber",
            landing_page="https://example.com/plumbing",
            gclid="Cj0KCQ-test-gclid",
        ),
        outcome=outcome or Outcome(),
    )


def records_for(event: CallEvent) -> list[RenderedRecord]:
    rendered = [mapping.render(event) for mapping in shipped_mappings()]
    return [record for record in rendered if isinstance(record, RenderedRecord)]


def item_for(event: CallEvent, *, attempt: int = 1, delivery_id: str | None = None) -> DeliveryItem:
    return DeliveryItem(
        delivery_id=delivery_id or f"dlv-{event.provider_call_id}-{event.kind}",
        call=event,
        trigger=event,
        records=records_for(event),
        attempt=attempt,
    )


def shared_context(
    redis_url: str, limits: dict[str, tuple[int, float]] | None = None, destination_id: str = "hubspot"
) -> SharedContext:
    return SharedContext(redis.Redis.from_url(redis_url), destination_id, MemoryStateStore(), limits or {})


def make_connector(url: str, context: Any, token: str = TOKEN, **options: Any) -> HubSpotConnector:
    settings = DestinationSettings(
        id="hubspot",
        type="hubspot",
        credentials={"access_token": Secret(token)},
        options=options,
        sandbox_url=url,
        timeout_s=10.0,
    )
    return HubSpotConnector(settings, context)


def deliver_until_settled(
    connector: HubSpotConnector, items: Sequence[DeliveryItem], *, batch_size: int = 100, max_rounds: int = 30
) -> tuple[dict[str, ItemOutcome], list[RetryableError]]:
    """What the hub's workers do: send in batches, retry retryable outcomes after their hint."""
    final: dict[str, ItemOutcome] = {}
    retried: list[RetryableError] = []
    pending = list(items)
    for _ in range(max_rounds):
        if not pending:
            break
        again: list[DeliveryItem] = []
        wait_s = 0.0
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            result = connector.deliver(batch)
            for item in batch:
                outcome = result.outcomes[item.delivery_id]
                if isinstance(outcome, RetryableError):
                    retried.append(outcome)
                    wait_s = max(wait_s, min(outcome.retry_after or 0.05, 2.0))
                    again.append(
                        DeliveryItem(
                            item.delivery_id, item.call, item.trigger, item.records, item.attempt + 1
                        )
                    )
                else:
                    final[item.delivery_id] = outcome
        pending = again
        if pending:
            time.sleep(wait_s)
    for item in pending:
        final[item.delivery_id] = RetryableError("gave up in the test harness", reason="exhausted")
    return final, retried


def errors_in(outcomes: dict[str, ItemOutcome]) -> dict[str, DeliveryError]:
    return {key: value for key, value in outcomes.items() if isinstance(value, DeliveryError)}
