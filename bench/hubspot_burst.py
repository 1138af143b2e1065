"""HubSpot burst: 1,000 calls through the real connector (hubspot-api-client over HTTP) into the local
fake enforcing HubSpot's real limits (100 requests per 10 s, search 5 per s), with the hub's shared
Redis rate limiter in front, in batches of 100 as the hub's workers send them.

`quota_time_s` is the time HubSpot's quota allows for the burst at 0.1 requests per call (100-record
batches): 1,000 calls -> 100 requests -> 10 s. The target is `ratio` (seconds / quota_time_s) <= 1.2
and `requests_per_call` <= 0.1. Rate-limited answers (429) are counted, retried after their hint,
and never lose a call.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from connectors.base import Delivered, DeliveryItem, DestinationSettings, RetryableError
from connectors.hubspot import HubSpotConnector
from connectors.hubspot.fake import create_app, fake_of
from hub.coordination import MemoryStateStore, SharedContext
from hub.core.events import Attribution, Call, Caller, CallEvent
from hub.core.records import RenderedRecord
from hub.core.secrets import Secret
from hub.local_server import LocalServer
from hub.mapping import Mapping, load_mapping
from hub.redis_server import RedisServer, free_port

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings" / "hubspot"
TOKEN = "pat-na1-bench"
CALLS = 1000
#: Distinct callers in the burst: the rest call again (found by the hub's memory or the search).
CALLERS = 800
LIMIT, WINDOW_S = 100, 10.0
SEARCH_LIMIT, SEARCH_WINDOW_S = 5, 1.0
STARTED = datetime(2024, 3, 12, 18, 0, tzinfo=UTC)


def _event(index: int, kind: str) -> CallEvent:
    caller = index if index < CALLERS else (index * 7) % CALLERS
    return CallEvent(
        provider="bench",
        provider_call_id=f"BENCH{index}",
        kind=kind,
        occurred_at=STARTED + timedelta(seconds=index),
        id=f"evt_bench_{kind}_{index}",
        source="bench",
        call=Call(started_at=STARTED, duration_s=95, direction="inbound", status="answered", spam=False),
        caller=Caller(number=f"+1404555{caller:04d}", name=f"Caller {caller}"),
        tracking_number="+14045550199",
        attribution=Attribution(
            source="google", medium="cpc", campaign="bench", keyword="plumber", gclid="g"
        ),
    )


def _items(kind: str, mappings: list[Mapping]) -> list[DeliveryItem]:
    items = []
    for index in range(CALLS):
        event = _event(index, kind)
        records = [r for m in mappings if isinstance(r := m.render(event), RenderedRecord)]
        items.append(DeliveryItem(f"bench-{kind}-{index}", event, event, records))
    return items


def _deliver(connector: HubSpotConnector, items: list[DeliveryItem]) -> tuple[int, int]:
    """The hub's workers in miniature: batches of max_batch, retryable outcomes sent again after
    their hint. Returns (delivered, retries)."""
    pending, delivered, retries = items, 0, 0
    while pending:
        again: list[DeliveryItem] = []
        wait_s = 0.0
        for start in range(0, len(pending), HubSpotConnector.max_batch):
            batch = pending[start : start + HubSpotConnector.max_batch]
            outcomes = connector.deliver(batch).outcomes
            for item in batch:
                outcome = outcomes[item.delivery_id]
                if isinstance(outcome, RetryableError):
                    retries += 1
                    wait_s = max(wait_s, outcome.retry_after or 1.0)
                    again.append(item)
                elif isinstance(outcome, Delivered):
                    delivered += 1
                else:
                    raise RuntimeError(f"{item.delivery_id}: {outcome!r}")
        pending = again
        if pending:
            time.sleep(wait_s)
    return delivered, retries


def _row(
    scenario: str, connector: HubSpotConnector, items: list[DeliveryItem], app: Any
) -> dict[str, object]:
    fake = fake_of(app)
    before, limited_before = fake.stats()["requests"], fake.limits.rejected
    started = time.monotonic()
    delivered, retries = _deliver(connector, items)
    seconds = time.monotonic() - started
    api_requests = int(fake.stats()["requests"]) - int(before)
    quota_time_s = len(items) * 0.1 / LIMIT * WINDOW_S
    return {
        "scenario": scenario,
        "calls": delivered,
        "api_requests": api_requests,
        "requests_per_call": api_requests / len(items),
        "seconds": seconds,
        "quota_time_s": quota_time_s,
        "ratio": seconds / quota_time_s,
        "rate_limited_429": fake.limits.rejected - limited_before,
        "retries": retries,
    }


def run() -> list[dict[str, object]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    mappings = [load_mapping(MAPPINGS / name) for name in ("contact.yaml", "call.yaml")]
    app = create_app(
        access_token=TOKEN,
        rate_limit=LIMIT,
        rate_window_s=WINDOW_S,
        search_rate_limit=SEARCH_LIMIT,
        search_window_s=SEARCH_WINDOW_S,
    )
    with tempfile.TemporaryDirectory() as data_dir, LocalServer(app) as server:
        redis_server = RedisServer(Path(data_dir), free_port()).start()
        try:
            client = redis.Redis.from_url(redis_server.url)
            context = SharedContext(
                client,
                "hubspot-bench",
                MemoryStateStore(),
                {"default": (LIMIT, WINDOW_S), "search": (SEARCH_LIMIT, SEARCH_WINDOW_S)},
            )
            settings = DestinationSettings(
                id="hubspot-bench",
                type="hubspot",
                credentials={"access_token": Secret(TOKEN)},
                sandbox_url=server.url,
            )
            connector = HubSpotConnector(settings, context)
            rows = [_row("burst_new_callers", connector, _items("call.completed", mappings), app)]
            # The same calls again as call.updated: every engagement updated in place.
            rows.append(_row("burst_call_updated", connector, _items("call.updated", mappings), app))
            store = fake_of(app).store
            assert len(store.records("calls")) == CALLS, "one engagement per call"
            assert len(store.records("contacts")) == CALLERS, "one contact per caller"
            client.close()
            return rows
        finally:
            redis_server.stop()
