"""The providers' normalized fixture events (their `.expected.json`) through the shipped GA4 mappings."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.base import Delivered, MemoryContext, Skipped
from connectors.ga4 import GA4Connector
from connectors.ga4.fake.state import SandboxState
from hub.core.events import CallEvent, load_event
from tests.connectors.ga4.calls import (
    CALL_STARTED,
    GA_CLIENT_ID,
    GA_SESSION_ID,
    PROJECT,
    clock,
    item,
    settings,
)

FIXTURES = PROJECT / "tests" / "fixtures"


def normalized(provider: str, name: str) -> CallEvent:
    path: Path = FIXTURES / "providers" / provider / f"{name}.expected.json"
    [event] = json.loads(path.read_text())
    return load_event(event)


def test_callrail_ctm_and_a_later_sale_make_one_phone_call_each_and_one_qualified_call(
    ga4_url: str, recorded: SandboxState
) -> None:
    ga4 = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock)
    callrail = normalized("callrail", "post_call_answered_web_session")
    ctm = normalized("ctm", "call_end_answered_web_session")
    ctm_sale = normalized("ctm", "call_update_sale_tags")

    outcomes = [
        ga4.deliver([item(event, f"d{n}")]).outcomes[f"d{n}"]
        for n, event in enumerate((callrail, ctm, ctm_sale))
    ]

    assert all(isinstance(outcome, Delivered) for outcome in outcomes)
    assert [(e.name, e.params["hub_source"]) for e in recorded.events()] == [
        ("phone_call", "callrail"),
        ("phone_call", "ctm"),
        ("qualified_call", "ctm"),
    ]
    callrail_event, ctm_event, sale_event = recorded.events()
    assert callrail_event.client_id == GA_CLIENT_ID
    assert callrail_event.moment == CALL_STARTED
    assert callrail_event.params["call_campaign"] == "emergency-atl"
    assert "session_id" not in callrail_event.params
    assert ctm_event.params["session_id"] == GA_SESSION_ID
    assert sale_event.params["value"] == 1250
    assert sale_event.params["currency"] == "USD"
    assert "already sent earlier: phone_call" in outcomes[2].note  # type: ignore[union-attr]


def test_a_missed_call_renders_nothing(ga4_url: str, recorded: SandboxState) -> None:
    ga4 = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock)
    outcome = ga4.deliver([item(normalized("ctm", "call_end_missed"))]).outcomes["d1"]

    assert isinstance(outcome, Skipped)
    assert outcome.reason == "no_events"
    assert recorded.hits() == []
