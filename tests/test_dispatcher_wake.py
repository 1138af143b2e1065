"""Parsed calls wake the dispatcher: their deliveries go out without waiting for its next pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from hub.dispatch import Dispatcher
from hub.redis_server import free_port
from hub.runtime import redis_client
from hub.store.models import Delivery, Receipt
from hub.wake import WakeListener, wake
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"
#: Far longer than any wait below: a full pass cannot be what served them.
SLOW_INTERVAL_S = 60.0


def eventually(check: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@contextmanager
def running(dispatcher: Dispatcher) -> Iterator[Dispatcher]:
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


def delivery_statuses(hub: Hub) -> list[str]:
    with hub.runtime.db.read_session() as session:
        return list(session.scalars(select(Delivery.status)))


def unclaimed_receipts(hub: Hub) -> int:
    with hub.runtime.db.read_session() as session:
        unclaimed = select(Receipt.id).where(Receipt.status == "received", Receipt.claim_token.is_(None))
        return len(session.scalars(unclaimed).all())


def test_parsed_calls_are_handed_out_at_once_and_new_receipts_wait_for_a_full_pass(hub: Hub) -> None:
    hub.runtime.sandbox_urls = dict.fromkeys(hub.runtime.config.destinations, hub.receiver.url)
    assert hub.post_fixture("callrail", ANSWERED).status_code == 202
    with running(Dispatcher(hub.runtime, interval_s=SLOW_INTERVAL_S)) as dispatcher:
        # The first full pass hands the receipt to an ingest job; the next one finds nothing.
        assert eventually(lambda: unclaimed_receipts(hub) == 0)
        assert eventually(lambda: dispatcher.wakes._subscription is not None)
        hub.run_jobs()  # the ingest job: it stores the call, then wakes the dispatcher
        assert eventually(lambda: delivery_statuses(hub) and "pending" not in delivery_statuses(hub))

        # A woken pass hands out deliveries only: receipts reach ingest in batches, at full passes.
        assert hub.post_fixture("callrail", MISSED).status_code == 202
        wake(hub.runtime.redis)
        time.sleep(0.5)
        assert unclaimed_receipts(hub) == 1


def test_wakes_meanwhile_count_as_one_and_a_wait_without_any_times_out(redis_url: str) -> None:
    client = redis_client(redis_url)
    listener = WakeListener(client)
    try:
        listener.wait(0.01)  # subscribes
        assert listener.wait(0.05) is False
        # In one round trip: Redis then writes the three to the listener's socket in one write, so
        # they have all arrived when the first one is read (three round trips could leave the
        # last one in flight, and a loaded machine did).
        with client.pipeline(transaction=False) as pipeline:
            for _ in range(3):
                wake(pipeline)
            pipeline.execute()
        assert listener.wait(5.0) is True
        assert listener.wait(0.05) is False, "the other two wakes were served by the same pass"
    finally:
        listener.close()
        client.close()


def test_without_redis_a_wake_is_not_an_error_and_waiting_is_a_plain_sleep() -> None:
    client = redis_client(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    wake(client)
    listener = WakeListener(client)
    started = time.monotonic()
    assert listener.wait(0.3) is False
    assert time.monotonic() - started >= 0.29
