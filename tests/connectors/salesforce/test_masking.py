"""Recorded exchanges never hold a caller's number in clear, and keep every other value."""

from __future__ import annotations

from connectors.base import Delivered
from connectors.salesforce.transport import masked_body, without_query
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


def test_masking_keeps_non_phone_values() -> None:
    body = masked_body('{"records":[{"Phone":"+14705550183","LastName":"Vega","Id":"00Q000000000001AAA"}]}')

    assert "4705550183" not in body
    assert "Vega" in body
    assert "00Q000000000001AAA" in body
    assert without_query(
        "https://x.my.salesforce.com/services/data/v59.0/search/?q=FIND+%7B4705550183%7D"
    ) == ("https://x.my.salesforce.com/services/data/v59.0/search/?[query omitted]")
