"""A burst of 1,000 first calls costs a handful of API calls per 200 calls (counted, not timed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.base import Delivered
from hub.coordination import MemoryStateStore
from tests.connectors.salesforce.calls import call, connector, item
from tests.connectors.salesforce.conftest import FakeOrg

BURST = 1000


def test_a_burst_of_1000_calls_uses_at_most_a_tenth_of_an_api_call_per_call(
    fake: FakeOrg, redis_url: str
) -> None:
    sf = connector(fake.url, redis_url)
    items = [item(call(f"CAL{n}", f"+1404555{n:04d}", name=f"Caller {n}")) for n in range(BURST)]

    outcomes = {}
    for start in range(0, BURST, sf.max_batch):
        outcomes.update(sf.send(items[start : start + sf.max_batch]).outcomes)

    assert all(isinstance(outcome, Delivered) for outcome in outcomes.values())
    assert len(fake.records("Lead")) == BURST
    assert len(fake.records("Task")) == BURST
    assert len(fake.records("CampaignMember")) == BURST
    # Per 200 calls: phone search per 100 numbers (2), Leads the hub created by their caller key
    # (1, exact SOQL), Lead upsert (1), Tasks (1), CampaignMembers (1); once for the burst: the
    # agent's User and the Campaign by name (kept for a few minutes), and the Lead's describe
    # (whether the org has State and Country picklists, kept for an hour).
    per_batch = 6
    assert fake.api_requests() == per_batch * BURST // sf.max_batch + 3
    assert fake.api_requests() / BURST <= 0.1


def test_a_single_call_costs_a_handful_of_requests(fake: FakeOrg, redis_url: str) -> None:
    connector(fake.url, redis_url).send([item(call("CAL1"))])

    # Search, key query, Lead describe (State/Country picklists?), Lead upsert, User, Task, Campaign
    # member (the Campaign by name).
    assert fake.api_requests() == 8


def test_a_repeat_caller_costs_no_create(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    sf.send([item(call("CAL1"))])
    before = fake.api_requests()
    sf.send([item(call("CAL2"))])

    # Search and Task upsert: the Lead is found, the agent, Campaign and membership remembered.
    assert fake.api_requests() - before == 2


class CountingStore(MemoryStateStore):
    """Counts reads as the database runs them: one query per `get`, one per `get_many`."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, destination_id: str, key: str) -> dict[str, Any] | None:
        self.reads += 1
        return super().get(destination_id, key)

    def get_many(self, destination_id: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        self.reads += 1
        return {key: MemoryStateStore.get(self, destination_id, key) for key in keys}


def test_a_batch_reads_its_state_in_a_few_queries_whatever_its_size(fake: FakeOrg, redis_url: str) -> None:
    """New callers, then the same callers again (Leads, Tasks, memberships remembered): the state
    reads of each batch do not grow with how many calls it holds."""

    def reads(size: int, offset: int) -> tuple[int, int]:
        store = CountingStore()
        sf = connector(fake.url, redis_url, store)
        numbers = [f"+1404555{offset + n:04d}" for n in range(size)]
        first = sf.send([item(call(f"CAL{offset + n}", number)) for n, number in enumerate(numbers)])
        after_first = store.reads
        second = sf.send([item(call(f"CAL{offset + n}b", number)) for n, number in enumerate(numbers)])
        outcomes = [*first.outcomes.values(), *second.outcomes.values()]
        assert all(isinstance(outcome, Delivered) for outcome in outcomes), outcomes
        return after_first, store.reads - after_first

    fake.search_lag(True)  # the second batch finds its callers through the hub's memory
    small = reads(3, 0)
    large = reads(15, 100)

    assert large == small
    assert max(large) <= 8
