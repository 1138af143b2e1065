"""Call events, rendered through the shipped Salesforce mappings, and connectors wired to the fake."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis

from connectors.base import DeliveryItem, DestinationSettings
from connectors.salesforce import SalesforceConnector
from hub.coordination import MemoryStateStore, SharedContext
from hub.core.events import Attribution, Call, Caller, CallEvent, Outcome
from hub.core.records import RenderedRecord
from hub.core.secrets import Secret
from hub.mapping import Mapping, load_mapping

PROJECT = Path(__file__).resolve().parents[3]
MAPPINGS = sorted((PROJECT / "mappings" / "salesforce").glob("*.yaml"))
STARTED = datetime(2024, 3, 12, 18, 22, 7, tzinfo=UTC)
AGENT = "dana.brooks@peachtreeplumbing.example"
CAMPAIGN = "emergency-atl"
GCLID = "Cj0KCQjw5cOwBhCiARIsAJ5njuYq2Vd8X0pLk3mZsT9aQw1Rb7HcYfE4nUo2GgKjPzXvA6sWqRtYeLaAm0hEALw_wcB"


def call(
    call_id: str = "CAL1",
    number: str | None = "+14705550183",
    kind: str = "call.completed",
    *,
    name: str | None = "VEGA MARISOL",
    agent: str | None = AGENT,
    **outcome: Any,
) -> CallEvent:
    """A CallRail-shaped answered call with full web attribution."""
    return CallEvent(
        provider="callrail",
        provider_call_id=call_id,
        kind=kind,
        occurred_at=STARTED + timedelta(minutes=7),
        id=f"evt_{call_id}_{kind}",
        source="callrail",
        call=Call(
            started_at=STARTED,
            duration_s=412,
            direction="inbound",
            status="answered",
            spam=False,
            recording_url=f"https://app.callrail.example/calls/{call_id}/recording",
        ),
        caller=Caller(number=number, name=name, city="Decatur", region="GA", country="US"),
        tracking_number="+14045550199",
        attribution=Attribution(
            source="Google Ads",
            medium="cpc",
            campaign=CAMPAIGN,
            keyword="emergency plumber decatur",
            landing_page="https://www.peachtreeplumbing.example/emergency-plumber",
            gclid=GCLID,
            utm_source="google",
            utm_medium="cpc",
            utm_campaign=CAMPAIGN,
            utm_term="emergency plumber decatur",
        ),
        outcome=Outcome(agent=agent, **outcome),
    )


def updated(event: CallEvent, **outcome: Any) -> CallEvent:
    """The call.updated version of `event` with outcome fields set."""
    merged = dataclasses.replace(event.outcome, **outcome)
    return dataclasses.replace(event, kind="call.updated", id=event.id + "_u", outcome=merged)


@functools.cache
def mapping(path: Path) -> Mapping:
    return load_mapping(path, connector=SalesforceConnector)


def render(event: CallEvent, names: tuple[str, ...] | None = None) -> list[RenderedRecord]:
    records = []
    for path in MAPPINGS:
        if names is not None and path.stem not in names:
            continue
        rendered = mapping(path).render(event)
        if isinstance(rendered, RenderedRecord):
            records.append(rendered)
    return records


def item(
    event: CallEvent, delivery_id: str | None = None, names: tuple[str, ...] | None = None
) -> DeliveryItem:
    return DeliveryItem(delivery_id or event.id, event, event, render(event, names))


def hand_item(delivery_id: str, event: CallEvent, *records: RenderedRecord) -> DeliveryItem:
    return DeliveryItem(delivery_id, event, event, records)


def settings(fake_url: str, credentials: dict[str, str] | None = None, **options: Any) -> DestinationSettings:
    return DestinationSettings(
        id="salesforce",
        type="salesforce",
        credentials={key: Secret(value) for key, value in (credentials or {}).items()},
        options=options,
        sandbox_url=fake_url,
    )


def shared_context(redis_url: str, state: MemoryStateStore | None = None) -> SharedContext:
    return SharedContext(redis.Redis.from_url(redis_url), "salesforce", state or MemoryStateStore())


def connector(
    fake_url: str, redis_url: str, state: MemoryStateStore | None = None, **options: Any
) -> SalesforceConnector:
    return SalesforceConnector(settings(fake_url, **options), shared_context(redis_url, state))


def money(value: str) -> Decimal:
    return Decimal(value)
