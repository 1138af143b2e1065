"""GA4 over the real claim store: a killed worker's pending events are decided once its lease lapses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.base import DeliveryItem, RetryableError
from connectors.ga4.fake import create_app as ga4_sandbox
from connectors.ga4.fake import sandbox_state
from connectors.ga4.fake.state import SandboxState
from connectors.ga4.ledger import Ledger, call_key
from hub.deliver import _prepare, _start_sending
from hub.dispatch import dispatch_once, release_expired
from hub.local_server import LocalServer
from hub.store.models import Delivery
from tests.hubkit import PROJECT, Hub, make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"


@dataclass
class Ga4Hub:
    hub: Hub
    fake: SandboxState


@pytest.fixture
def ga4_hub(tmp_path: Path, redis_url: str) -> Iterator[Ga4Hub]:
    config = {
        "version": 1,
        "sources": [{"id": "callrail", "provider": "callrail", "secrets": ["${TEST_SECRET}"]}],
        "destinations": [
            {
                "id": "ga4",
                "type": "ga4",
                "credentials": {"measurement_id": "${TEST_UNSET_GA4}"},
                "sandbox": True,
                "mappings": [str(PROJECT / "mappings" / "ga4" / "phone_call.yaml")],
            }
        ],
        "routes": [{"from": "*", "to": ["ga4"]}],
    }
    with (
        LocalServer(ga4_sandbox()) as fake,
        make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub,
    ):
        hub.restart(sandbox_urls={"ga4": fake.url})
        yield Ga4Hub(hub, sandbox_state(fake.app))


def killed_mid_send(hub: Hub, *, request_started: bool) -> DeliveryItem:
    """A worker claimed the call's delivery, started its send and marked its event, then died
    (its job gone with it). Returns the item it was sending."""
    hub.post_fixture("callrail", ANSWERED, recent=True)
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest
    dispatch_once(hub.runtime)
    with hub.runtime.db.read_session() as session:
        [row] = session.scalars(select(Delivery).where(Delivery.status == "queued")).all()
        delivery_id, token = row.id, str(row.claim_token)
    hub.lose_jobs()  # its job died with it
    destination = hub.runtime.config.destinations["ga4"]
    items, _, snapshot = _prepare(hub.runtime, destination, [delivery_id], token)
    assert _start_sending(hub.runtime, token, items, snapshot) == {delivery_id}
    # What the killed worker's connector wrote, through the same ledger and shared context.
    ledger = Ledger(hub.runtime.shared_context(destination))
    key = call_key(items[0].call)
    ledger.claim(key, ["phone_call"], items[0].call.occurred_at, token)
    if request_started:
        assert ledger.start_sending(key, ["phone_call"], token) == ["phone_call"]
    return items[0]


def redrive(hub: Hub) -> None:
    """The lease lapses (no heartbeat renews it); the dispatcher hands the delivery out again."""
    late = hub.later(hub.runtime.settings.lease_s + 1)
    assert release_expired(hub.runtime, late) == 1
    dispatch_once(hub.runtime, late)
    hub.run_jobs()


def delivery(hub: Hub, delivery_id: str) -> Delivery:
    with hub.runtime.db.read_session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_live_claims_mark_keeps_others_waiting(ga4_hub: Ga4Hub) -> None:
    hub = ga4_hub.hub
    held = killed_mid_send(hub, request_started=False)
    # The claim's lease has not lapsed: to any other sender its send is under way.
    other = replace(held, claim="another-claim")

    outcome = hub.runtime.connector("ga4").deliver([other]).outcomes[held.delivery_id]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "in_flight"
    assert ga4_sandbox_hits(ga4_hub) == 0


def ga4_sandbox_hits(ga4_hub: Ga4Hub) -> int:
    return len(ga4_hub.fake.hits())


def test_a_dead_claims_unsent_event_is_sent_by_the_redriven_delivery(ga4_hub: Ga4Hub) -> None:
    hub = ga4_hub.hub
    delivery_id = killed_mid_send(hub, request_started=False).delivery_id

    redrive(hub)
    hub.drain()

    row = delivery(hub, delivery_id)
    assert row.status == "delivered", (row.status, row.reason, row.message)
    assert [event.name for event in ga4_hub.fake.events()] == ["phone_call"]


def test_a_dead_claims_started_request_is_in_doubt_at_once(ga4_hub: Ga4Hub) -> None:
    hub = ga4_hub.hub
    delivery_id = killed_mid_send(hub, request_started=True).delivery_id

    redrive(hub)
    hub.drain()

    row = delivery(hub, delivery_id)
    assert (row.status, row.reason) == ("skipped", "in_doubt"), (row.status, row.reason, row.message)
    assert ga4_sandbox_hits(ga4_hub) == 0, "never resent"
