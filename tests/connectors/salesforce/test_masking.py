"""Recorded exchanges never hold a caller's number in clear."""

from __future__ import annotations

from connectors.base import Delivered
from hub.coordination import MemoryStateStore
from tests.connectors.salesforce.calls import call, connector, item
from tests.connectors.salesforce.conftest import FakeOrg


def test_exchanges_never_hold_the_callers_number(fake: FakeOrg, redis_url: str) -> None:
    fake.seed("Contact", LastName="Known", Phone="(470) 555-0184")
    result = connector(fake.url, redis_url, MemoryStateStore()).send(
        [item(call("CAL2")), item(call("CAL3", "+14705550184"))]
    )

    assert all(isinstance(o, Delivered) for o in result.outcomes.values()), result.outcomes
    assert result.exchanges
    for exchange in result.exchanges:
        for digits in ("4705550183", "470) 555-0184", "4705550184"):
            assert digits not in exchange.url
            assert digits not in exchange.request_body
            assert digits not in exchange.response_body
