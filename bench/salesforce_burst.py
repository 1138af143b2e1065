"""Salesforce API calls per delivered call: one call, and a burst of 1,000 first-time callers.

Runs the real connector (simple-salesforce over HTTP) against the local fake with the shipped
mappings, and counts the API requests the fake answered. Salesforce's daily allocation is the
scarce resource, so the count is the result; the seconds are only for context.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from connectors.base import DeliveryItem, DestinationSettings, MemoryContext
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.fake import create_app
from hub.core.events import Attribution, Call, Caller, CallEvent, Outcome
from hub.core.records import RenderedRecord
from hub.local_server import LocalServer
from hub.mapping import Mapping, load_mapping

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings" / "salesforce"
AGENT = "agent@bench.example"
CAMPAIGN = "bench-campaign"
STARTED = datetime(2024, 3, 12, 18, 0, tzinfo=UTC)


def _event(index: int) -> CallEvent:
    return CallEvent(
        provider="bench",
        provider_call_id=f"BENCH{index}",
        kind="call.completed",
        occurred_at=STARTED + timedelta(seconds=index),
        id=f"evt_bench_{index}",
        source="bench",
        call=Call(started_at=STARTED, duration_s=95, direction="inbound", status="answered", spam=False),
        caller=Caller(number=f"+1404{index // 10000:03d}{index % 10000:04d}", name=f"Caller {index}"),
        tracking_number="+14045550199",
        attribution=Attribution(source="Google Ads", medium="cpc", campaign=CAMPAIGN, keyword="plumber"),
        outcome=Outcome(agent=AGENT),
    )


def _items(count: int, mappings: list[Mapping]) -> list[DeliveryItem]:
    items = []
    for index in range(count):
        event = _event(index)
        records = [r for m in mappings if isinstance(r := m.render(event), RenderedRecord)]
        items.append(DeliveryItem(event.id, event, event, records))
    return items


def _scenario(name: str, count: int, mappings: list[Mapping]) -> dict[str, Any]:
    app = create_app(users=[{"Email": AGENT, "LastName": "Agent"}], campaigns=[CAMPAIGN])
    items = _items(count, mappings)
    with LocalServer(app) as server, requests.Session() as http:
        http.trust_env = False
        settings = DestinationSettings(id="bench", type="salesforce", credentials={}, sandbox_url=server.url)
        connector = SalesforceConnector(settings, MemoryContext())
        started = time.perf_counter()
        for start in range(0, count, connector.max_batch):
            result = connector.send(items[start : start + connector.max_batch])
            failed = [o for o in result.outcomes.values() if type(o).__name__ != "Delivered"]
            if failed:
                raise RuntimeError(f"{name}: {len(failed)} calls not delivered, first: {failed[0]!r}")
        seconds = time.perf_counter() - started
        api_requests = int(http.get(f"{server.url}/__fake__/requests").json()["api_requests"])
    return {
        "scenario": name,
        "calls": count,
        "api_requests": api_requests,
        "requests_per_call": round(api_requests / count, 3),
        "seconds": round(seconds, 2),
    }


def run() -> list[dict[str, object]]:
    # The fake's access log would print every request line (search queries carry callers' digits).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    mappings = [load_mapping(path, connector=SalesforceConnector) for path in sorted(MAPPINGS.glob("*.yaml"))]
    return [
        _scenario("salesforce: single call", 1, mappings),
        _scenario("salesforce: burst of 1,000 new callers", 1000, mappings),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
