"""Each destination at its own pace: batching by time, own queues, throttled work rescheduled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from rq import Queue
from sqlalchemy import select

from hub.dispatch import (
    _backlog,
    choose_batches,
    deliver_queue_name,
    dispatch_deliveries,
    dispatch_once,
    dispatch_receipts,
)
from hub.store.models import Delivery
from tests.hubkit import Hub, default_config, make_hub

CALLS = (
    "callrail/post_call_answered_web_session.json",
    "callrail/post_call_missed.json",
    "callrail/post_call_voicemail.json",
)


def deliveries(hub: Hub, destination: str | None = None) -> list[Delivery]:
    with hub.runtime.db.read_session() as session:
        query = select(Delivery).order_by(Delivery.created_at)
        if destination:
            query = query.where(Delivery.destination == destination)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def ingested(hub: Hub, count: int = len(CALLS)) -> None:
    for fixture in CALLS[:count]:
        assert hub.post_fixture("callrail", fixture).status_code == 202
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest only: nothing was due for delivery when the pass ran


def test_choose_batches_full_at_once_partial_after_the_window() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    due = [(f"d{i}", now - timedelta(seconds=1)) for i in range(5)]
    assert choose_batches(due, size=2, window_s=3, room=100, now=now) == [["d0", "d1"], ["d2", "d3"]]
    assert choose_batches(due, size=2, window_s=0, room=100, now=now) == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    waited = [(i, now - timedelta(seconds=3)) for i, _ in due]
    assert choose_batches(waited, size=2, window_s=3, room=100, now=now)[-1] == ["d4"]
    assert choose_batches(due[:1], size=2, window_s=3, room=100, now=now) == []
    assert choose_batches(waited, size=2, window_s=3, room=3, now=now) == [["d0", "d1"], ["d2"]]
    assert choose_batches(waited, size=2, window_s=3, room=0, now=now) == []


@pytest.fixture
def windowed(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Hub]:
    config = default_config()
    config["destinations"][0]["batch_window_s"] = 10
    with make_hub(tmp_path, redis_url, database_url, config) as hub:
        yield hub


def test_a_destination_waits_up_to_its_window_for_a_fuller_batch(windowed: Hub) -> None:
    hub = windowed
    ingested(hub)
    due_at = min(d.due_at for d in deliveries(hub))
    assert dispatch_deliveries(hub.runtime, due_at + timedelta(seconds=9)).deliveries == 0, (
        "within the window"
    )
    assert {d.status for d in deliveries(hub)} == {"pending"}
    assert dispatch_deliveries(hub.runtime, due_at + timedelta(seconds=10.5)).deliveries == 3
    tokens = {d.claim_token for d in deliveries(hub)}
    assert len(tokens) == 1, "one batch, one job"
    assert None not in tokens
    hub.run_jobs()
    assert {d.status for d in deliveries(hub)} == {"delivered"}
    assert len(hub.received()) == 3


def test_a_windowed_destination_is_looked_at_only_once_a_batch_could_leave(windowed: Hub) -> None:
    """The pass reads a windowed destination's due calls only when its oldest call's window is
    over or a full batch is due: before that, what it would read could only wait."""
    hub = windowed
    ingested(hub, count=1)
    due_at = min(d.due_at for d in deliveries(hub))
    assert _backlog(hub.runtime, due_at - timedelta(seconds=1), False).ready == frozenset(), "not due yet"
    assert _backlog(hub.runtime, due_at + timedelta(seconds=9), False).ready == frozenset(), "in its window"
    assert _backlog(hub.runtime, due_at + timedelta(seconds=10.5), False).ready == {"webhook"}
    # A full batch (the webhook's 50) is ready at once, window or not.
    for n in range(49):
        hub.post_fixture(
            "callrail",
            CALLS[1],
            edit=lambda body, n=n: body.replace(b'"resource_id":"CAL', f'"resource_id":"CAL{n}'.encode()),
        )
    assert dispatch_receipts(hub.runtime, datetime.now(UTC)) == 49
    hub.run_jobs()
    newest = max(d.due_at for d in deliveries(hub))
    assert len(deliveries(hub)) == 50
    assert _backlog(hub.runtime, newest, False).ready == {"webhook"}
    assert dispatch_deliveries(hub.runtime, newest).deliveries == 50, (
        "one full batch, though its window is not over"
    )


def paced_config() -> dict[str, Any]:
    config = default_config()
    fast = config["destinations"][0]
    slow = {**fast, "id": "slow", "rate_limit": {"requests": 1, "per_s": 60}}
    config["destinations"] = [slow, fast]
    config["routes"] = [{"from": "*", "to": ["slow", "webhook"]}]
    return config


@pytest.fixture
def paced(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Hub]:
    with make_hub(tmp_path, redis_url, database_url, paced_config()) as hub:
        hub.runtime.sandbox_urls = {"slow": hub.receiver.url, "webhook": hub.receiver.url}
        yield hub


def test_a_throttled_destination_never_holds_up_another(paced: Hub) -> None:
    hub = paced
    ingested(hub)
    assert dispatch_deliveries(hub.runtime, datetime.now(UTC)).deliveries == 6
    connection = redis_lib.Redis.from_url(hub.runtime.redis_url)
    for destination in ("slow", "webhook"):
        assert Queue(deliver_queue_name(destination), connection=connection).count == 1
    hub.run_jobs()
    fast = deliveries(hub, "webhook")
    assert {d.status for d in fast} == {"delivered"}, "the other destination went out in full"
    slow = deliveries(hub, "slow")
    sent = [d for d in slow if d.status == "delivered"]
    waiting = [d for d in slow if d.status == "pending"]
    assert len(sent) == 1, "the quota (1 a minute) is never exceeded"
    assert len(waiting) == 2
    now = datetime.now(UTC)
    for row in waiting:
        # Rescheduled for when the quota allows, not slept on; no attempt spent, claim released.
        assert (row.reason, row.attempts, row.claim_token) == ("throttled", 0, None)
        assert row.due_at > now + timedelta(seconds=45)
    # Even when due, nothing is handed out while the quota is spent.
    assert dispatch_deliveries(hub.runtime, now + timedelta(minutes=5)).deliveries == 0
    assert {d.status for d in deliveries(hub, "slow")} == {"delivered", "pending"}


def test_in_flight_work_per_destination_is_capped(tmp_path: Path, redis_url: str, database_url: str) -> None:
    from hub.dispatch import in_flight_batches

    config = default_config()
    config["destinations"][0]["max_in_flight"] = 3
    with make_hub(tmp_path, redis_url, database_url, config) as hub:
        destination = hub.runtime.config.destinations["webhook"]
        assert in_flight_batches(hub.runtime, destination) == 3
    with make_hub(tmp_path, redis_url, database_url) as hub:
        # By default one batch per worker listening to the destination's queue, plus one waiting.
        destination = hub.runtime.config.destinations["webhook"]
        assert in_flight_batches(hub.runtime, destination) == 2
