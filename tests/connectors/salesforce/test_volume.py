"""A burst of 1,000 first calls costs a handful of API calls per 200 calls (counted, not timed)."""

from __future__ import annotations

from connectors.base import Delivered
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
