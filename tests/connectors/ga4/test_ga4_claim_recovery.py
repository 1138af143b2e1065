"""Pending marks judged by their claim: a dead claim's events are decided at once, never sent twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from connectors.base import Delivered, DeliveryItem, MemoryContext, RetryableError, Skipped
from connectors.ga4 import GA4Connector
from connectors.ga4.fake.state import SandboxState
from connectors.ga4.ledger import PENDING, PREPARED, SENDING, Ledger
from tests.connectors.ga4.calls import NOW, callrail_call, clock, item, settings

STATE_KEY = "call:callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1"
KILLED = "claim-of-the-killed-worker"
REDRIVEN = "claim-of-the-redriven-delivery"


def claimed_item(claim: str) -> DeliveryItem:
    return dataclasses.replace(item(callrail_call()), claim=claim)


def left_behind(phase: str, claim: str = KILLED) -> dict[str, Any]:
    """The mark a worker leaves when it dies in `phase`, one minute ago (well inside any window)."""
    at = (NOW - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    return {
        STATE_KEY: {"events": {"phone_call": {"status": PENDING, "at": at, "phase": phase, "claim": claim}}}
    }


def deliver(context: MemoryContext, ga4_url: str, claim: str = REDRIVEN) -> Any:
    return GA4Connector(settings(ga4_url), context, clock=clock).deliver([claimed_item(claim)]).outcomes["d1"]


def test_dead_claim_whose_request_never_started_is_sent_at_once(ga4_url: str, recorded: SandboxState) -> None:
    context = MemoryContext(left_behind(PREPARED), live_claims={REDRIVEN})

    outcome = deliver(context, ga4_url)
    again = deliver(context, ga4_url)

    assert isinstance(outcome, Delivered), outcome
    assert isinstance(again, Skipped)
    assert again.reason == "already_sent"
    assert [event.name for event in recorded.events()] == ["phone_call"]
    assert context.get_state(STATE_KEY)["events"]["phone_call"]["status"] == "sent"  # type: ignore[index]


def test_dead_claim_whose_request_may_have_gone_out_is_in_doubt_at_once(
    ga4_url: str, recorded: SandboxState
) -> None:
    context = MemoryContext(left_behind(SENDING), live_claims={REDRIVEN})

    outcome = deliver(context, ga4_url)

    assert isinstance(outcome, Skipped)
    assert outcome.reason == "in_doubt"
    assert recorded.hits() == []
    # Still visible as pending: `resend_in_doubt` can replay it.
    assert context.get_state(STATE_KEY)["events"]["phone_call"]["phase"] == SENDING  # type: ignore[index]


def test_live_claim_is_still_in_flight_whatever_its_phase(ga4_url: str, recorded: SandboxState) -> None:
    for phase in (PREPARED, SENDING):
        context = MemoryContext(left_behind(phase), live_claims={KILLED, REDRIVEN})

        outcome = deliver(context, ga4_url)

        assert isinstance(outcome, RetryableError)
        assert outcome.reason == "in_flight"
    assert recorded.hits() == []


def test_resend_in_doubt_replays_a_dead_claims_send(ga4_url: str, recorded: SandboxState) -> None:
    context = MemoryContext(left_behind(SENDING), live_claims={REDRIVEN})
    ga4 = GA4Connector(settings(ga4_url, resend_in_doubt=True), context, clock=clock)

    outcome = ga4.deliver([claimed_item(REDRIVEN)]).outcomes["d1"]

    assert isinstance(outcome, Delivered)
    assert len(recorded.events()) == 1


class TakeoverContext(MemoryContext):
    """The original sender stalls (its lease lapses) right after preparing its marks; a re-driven
    delivery under a new claim takes the events over before the original resumes."""

    def __init__(self, ga4_url: str) -> None:
        super().__init__(live_claims={KILLED})
        self.ga4_url = ga4_url
        self.redriven: Any = None

    def put_state(self, key: str, value: Mapping[str, Any]) -> None:
        super().put_state(key, value)
        mark = dict(value).get("events", {}).get("phone_call", {})
        if self.redriven is None and mark.get("claim") == KILLED:
            self.live_claims = {REDRIVEN}
            self.redriven = deliver(self, self.ga4_url)


def test_a_stalled_original_does_not_send_what_a_new_claim_took_over(
    ga4_url: str, recorded: SandboxState
) -> None:
    context = TakeoverContext(ga4_url)

    original = deliver(context, ga4_url, claim=KILLED)

    assert isinstance(context.redriven, Delivered), context.redriven
    assert isinstance(original, RetryableError)
    assert original.reason == "in_flight"
    assert [event.name for event in recorded.events()] == ["phone_call"]
    assert context.get_state(STATE_KEY)["events"]["phone_call"]["status"] == "sent"  # type: ignore[index]


def test_start_sending_keeps_only_the_claims_own_prepared_marks() -> None:
    context = MemoryContext(left_behind(PREPARED))
    ledger = Ledger(context)

    assert ledger.start_sending(STATE_KEY, ["phone_call"], REDRIVEN) == []
    assert ledger.start_sending(STATE_KEY, ["phone_call"], KILLED) == ["phone_call"]
    assert ledger.start_sending(STATE_KEY, ["phone_call"], KILLED) == [], "a `sending` mark is not prepared"


def test_unjudgeable_marks_keep_the_window(ga4_url: str, recorded: SandboxState) -> None:
    """A context that cannot tell liveness (None) falls back to the in-flight window."""
    context = MemoryContext(left_behind(PREPARED))

    outcome = deliver(context, ga4_url)

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "in_flight"
    assert recorded.hits() == []
