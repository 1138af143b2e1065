"""Calls -> GA4 events through the shipped mappings, the connector, and the sandbox over HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import redis

from connectors.base import Delivered, MemoryContext, PermanentError, RetryableError, Skipped
from connectors.ga4 import GA4Connector
from connectors.ga4.fake.state import SandboxState
from connectors.ga4.ledger import call_key
from hub.coordination import MemoryStateStore, SharedContext
from hub.core.events import CallEvent
from tests.connectors.ga4.calls import (
    API_SECRET,
    CALL_STARTED,
    GA_CLIENT_ID,
    GA_SESSION_ID,
    MEASUREMENT_ID,
    callrail_call,
    clock,
    ctm_call,
    item,
    micros,
    qualified,
    settings,
    with_attribution,
    with_call,
)


def connector(url: str, context: object | None = None, **options: object) -> GA4Connector:
    return GA4Connector(settings(url, **options), context or MemoryContext(), clock=clock)  # type: ignore[arg-type]


def test_callrail_call_with_ga_cookie_becomes_one_phone_call(ga4_url: str, recorded: SandboxState) -> None:
    result = connector(ga4_url).deliver([item(callrail_call())])

    outcome = result.outcomes["d1"]
    assert isinstance(outcome, Delivered)
    assert outcome.external_ids == {
        "ga4_events": "phone_call",
        "client_id_source": "ga",
        "attribution": "user",
    }
    [event] = recorded.events()
    assert event.name == "phone_call"
    assert event.measurement_id == MEASUREMENT_ID
    assert event.client_id == GA_CLIENT_ID
    assert event.moment == CALL_STARTED
    assert event.params["call_campaign"] == "emergency-atl"
    assert event.params["call_source"] == "Google Ads"
    assert event.params["call_keyword"] == "emergency plumber decatur"
    assert event.params["hub_source"] == "callrail"
    assert event.params["call_duration_sec"] == 412
    assert event.params["first_call"] == "true"
    assert event.params["tracking_number"] == "+14045550199"
    assert event.params["engagement_time_msec"] == 1
    assert "gclid" not in event.params
    [hit] = recorded.hits()
    assert hit.body["events"][0]["timestamp_micros"] == micros(CALL_STARTED)


def test_raw_ga_cookie_value_is_reduced_to_the_client_id(ga4_url: str, recorded: SandboxState) -> None:
    call = with_attribution(callrail_call(), ga_client_id="GA1.2.1187416732.1710263921")
    connector(ga4_url).deliver([item(call)])
    assert [event.client_id for event in recorded.events()] == [GA_CLIENT_ID]


def test_ctm_call_with_ga4_session_carries_the_session_id(ga4_url: str, recorded: SandboxState) -> None:
    result = connector(ga4_url).deliver([item(ctm_call())])

    assert isinstance(result.outcomes["d1"], Delivered)
    [event] = recorded.events()
    assert event.params["session_id"] == GA_SESSION_ID
    assert event.client_id == GA_CLIENT_ID


def test_spam_short_or_missed_calls_render_no_event(ga4_url: str, recorded: SandboxState) -> None:
    calls = [
        with_call(callrail_call(), spam=True),
        with_call(callrail_call(), duration_s=30),
        with_call(callrail_call(), status="missed"),
    ]
    result = connector(ga4_url).deliver([item(call, f"d{i}") for i, call in enumerate(calls)])

    assert {outcome.reason for outcome in result.outcomes.values()} == {"no_events"}  # type: ignore[union-attr]
    assert recorded.hits() == []


def test_same_call_again_or_updated_sends_no_second_phone_call(
    redis_url: str, ga4_url: str, recorded: SandboxState
) -> None:
    client = redis.Redis.from_url(redis_url)
    context = SharedContext(client, "ga4", MemoryStateStore())
    ga4 = connector(ga4_url, context)
    first = ga4.deliver([item(callrail_call(), "d1")])
    replay = ga4.deliver([item(callrail_call(), "d2")])
    updated = ga4.deliver([item(callrail_call(kind="call.updated", id="evt_callrail_2"), "d3")])

    assert isinstance(first.outcomes["d1"], Delivered)
    for result, delivery_id in ((replay, "d2"), (updated, "d3")):
        outcome = result.outcomes[delivery_id]
        assert isinstance(outcome, Skipped)
        assert outcome.reason == "already_sent"
    assert [event.name for event in recorded.events()] == ["phone_call"]
    state = context.get_state("call:callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1")
    assert state is not None
    assert state["events"]["phone_call"]["status"] == "sent"


def test_two_versions_in_one_batch_send_once(ga4_url: str, recorded: SandboxState) -> None:
    result = connector(ga4_url).deliver(
        [item(callrail_call(), "d1"), item(callrail_call(kind="call.updated"), "d2")]
    )

    assert isinstance(result.outcomes["d1"], Delivered)
    assert isinstance(result.outcomes["d2"], Skipped)
    assert [event.name for event in recorded.events()] == ["phone_call"]


def test_concurrent_workers_send_one_phone_call(redis_url: str, ga4_url: str, recorded: SandboxState) -> None:
    store = MemoryStateStore()
    outcomes: list[object] = []

    def work(delivery_id: str) -> None:
        context = SharedContext(redis.Redis.from_url(redis_url), "ga4", store)
        outcomes.append(
            connector(ga4_url, context).deliver([item(callrail_call(), delivery_id)]).outcomes[delivery_id]
        )

    threads = [threading.Thread(target=work, args=(f"d{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [event.name for event in recorded.events()] == ["phone_call"]
    assert sum(isinstance(outcome, Delivered) for outcome in outcomes) == 1
    for outcome in outcomes:
        # The losers either saw the event sent, or saw it in flight and will retry into `already_sent`.
        assert isinstance(outcome, (Delivered, Skipped, RetryableError))
        assert not isinstance(outcome, RetryableError) or outcome.reason == "in_flight"


def test_qualified_outcome_sends_qualified_call_with_value(ga4_url: str, recorded: SandboxState) -> None:
    ga4 = connector(ga4_url)
    ga4.deliver([item(callrail_call(), "d1")])
    result = ga4.deliver([item(qualified(callrail_call()), "d2")])

    outcome = result.outcomes["d2"]
    assert isinstance(outcome, Delivered)
    assert outcome.external_ids["ga4_events"] == "qualified_call"
    assert "already sent earlier: phone_call" in outcome.note
    names = [event.name for event in recorded.events()]
    assert names == ["phone_call", "qualified_call"]
    qualified_event = recorded.events()[1]
    assert qualified_event.params["value"] == 250
    assert qualified_event.params["currency"] == "USD"
    assert qualified_event.params["lead_status"] == "good_lead"


def test_first_delivery_of_a_qualified_call_sends_both_events_in_one_request(
    ga4_url: str, recorded: SandboxState
) -> None:
    connector(ga4_url).deliver([item(qualified(callrail_call()))])

    [hit] = recorded.hits()
    assert [event["name"] for event in hit.body["events"]] == ["phone_call", "qualified_call"]


def test_no_client_id_is_skipped_with_its_reason(ga4_url: str, recorded: SandboxState) -> None:
    call = with_attribution(callrail_call(), ga_client_id=None)
    outcome = connector(ga4_url).deliver([item(call)]).outcomes["d1"]

    assert isinstance(outcome, Skipped)
    assert outcome.reason == "no_ga_client_id"
    assert recorded.hits() == []


def test_no_client_id_pseudonymous_sends_a_stable_derived_id(ga4_url: str, recorded: SandboxState) -> None:
    call = with_attribution(callrail_call(), ga_client_id=None)
    creds = {"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET, "client_id_salt": "pepper"}
    ga4 = GA4Connector(
        settings(ga4_url, credentials=creds, no_client_id="pseudonymous"), MemoryContext(), clock=clock
    )
    outcome = ga4.deliver([item(call)]).outcomes["d1"]
    again = ga4.deliver([item(callrail_call(provider_call_id="other", attribution=call.attribution), "d2")])

    assert isinstance(outcome, Delivered)
    assert outcome.external_ids["client_id_source"] == "pseudonymous"
    assert isinstance(again.outcomes["d2"], Delivered)
    first, second = recorded.events()
    assert first.client_id == second.client_id
    assert first.client_id != GA_CLIENT_ID
    assert "4705550183" not in first.client_id


def test_pseudonymous_without_salt_is_a_configuration_error(ga4_url: str) -> None:
    call = with_attribution(callrail_call(), ga_client_id=None)
    outcome = connector(ga4_url, no_client_id="pseudonymous").deliver([item(call)]).outcomes["d1"]
    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "config"


def test_user_data_only_when_the_destination_allows_it(ga4_url: str, recorded: SandboxState) -> None:
    connector(ga4_url).deliver([item(callrail_call(), "d1")])
    connector(ga4_url, user_data=["callrail"]).deliver([item(ctm_call(), "d2")])
    connector(ga4_url, user_data=["callrail"]).deliver([item(callrail_call(provider_call_id="x"), "d3")])

    bodies = [hit.body for hit in recorded.hits()]
    assert "user_data" not in bodies[0]
    assert "user_data" not in bodies[1]
    assert bodies[2]["user_data"] == {"sha256_phone_number": [hashlib.sha256(b"+14705550183").hexdigest()]}


def test_consent_and_non_personalized_ads_from_options(ga4_url: str, recorded: SandboxState) -> None:
    consent = {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}
    connector(ga4_url, consent=consent, non_personalized_ads=True).deliver([item(callrail_call())])

    [hit] = recorded.hits()
    assert hit.body["consent"] == consent
    assert hit.body["non_personalized_ads"] is True


def test_exchanges_are_recorded_without_the_api_secret(ga4_url: str) -> None:
    result = connector(ga4_url).deliver([item(callrail_call())])

    [exchange] = result.exchanges
    assert exchange.status == 204
    assert exchange.url == f"{ga4_url}/mp/collect?measurement_id={MEASUREMENT_ID}"
    assert API_SECRET not in exchange.url + exchange.request_body + exchange.response_body
    assert "phone_call" in exchange.request_body
    assert "+14705550183" not in exchange.request_body


def test_a_stable_user_id_from_the_mapping_is_sent_beside_user_data(
    ga4_url: str, recorded: SandboxState
) -> None:
    call = dataclasses.replace(callrail_call(), custom={"ga_user_id": "crm-501"})
    outcome = connector(ga4_url, user_data=True).deliver([item(call, "d1")]).outcomes["d1"]

    assert isinstance(outcome, Delivered), outcome
    [hit] = recorded.hits()
    assert hit.body["user_id"] == "crm-501"
    assert set(hit.body["user_data"]) == {"sha256_phone_number"}


def test_a_user_id_holding_personal_data_is_refused(ga4_url: str, recorded: SandboxState) -> None:
    call = dataclasses.replace(callrail_call(), custom={"ga_user_id": "ann@example.com"})
    outcome = connector(ga4_url).deliver([item(call, "d1")]).outcomes["d1"]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "mapping"
    assert "personal data" in outcome.message
    assert recorded.hits() == []


class _CountingContext(MemoryContext):
    """Counts the connector's lock and state calls (reads of one key, of many, and lock takes)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.batch_reads = 0
        self.lock_takes: list[list[str]] = []

    def get_state(self, key: str) -> dict[str, object] | None:
        self.reads.append(key)
        return super().get_state(key)

    def get_states(self, keys: Iterable[str]) -> dict[str, dict[str, object] | None]:
        self.batch_reads += 1
        return {key: MemoryContext.get_state(self, key) for key in keys}

    @contextlib.contextmanager
    def locks(self, keys: Iterable[str], timeout_s: float = 30.0) -> Iterator[None]:
        self.lock_takes.append(sorted(keys))
        yield


def test_a_batch_claims_all_its_calls_under_one_lock_take_and_one_read(
    ga4_url: str, recorded: SandboxState
) -> None:
    """Claiming costs the same few calls for 2 calls as for 20. Marking `sending` right before
    each POST stays one step per request, as it must; each such step also marks the previous
    request's events sent, so N requests take N + 1 steps, not 2N."""
    calls = [
        with_attribution(
            dataclasses.replace(callrail_call(), provider_call_id=f"CAL{n}"),
            ga_client_id=f"11874167{n:02d}.1710263921",
        )
        for n in range(20)
    ]
    context = _CountingContext()

    result = connector(ga4_url, context).deliver([item(call, f"d{n}") for n, call in enumerate(calls)])

    assert all(isinstance(outcome, Delivered) for outcome in result.outcomes.values())
    assert len(recorded.events()) == 20
    claim_take, first, *following, last = context.lock_takes
    requests = len(recorded.hits())
    assert len(claim_take) == 20, "every call of the batch locked at once to claim"
    assert first == [call_key(calls[0])], "the first request starts alone"
    assert len(following) == requests - 1
    assert all(len(keys) == 2 for keys in following), "a request's start settles the one before"
    assert last == [call_key(calls[-1])], "the last request is settled on its own"
    assert context.batch_reads == 2 + requests, "one read to claim, one per request's start, one to settle"
    assert context.reads == []


def _one_visitors_calls(count: int) -> list[CallEvent]:
    """Calls from one web visitor (one GA client id): their events share one request."""
    return [
        with_attribution(dataclasses.replace(callrail_call(), provider_call_id=f"CAL{n}"))
        for n in range(count)
    ]


def _mark(context: MemoryContext, key: str) -> dict[str, Any]:
    state = context.get_state(key)
    assert state is not None, f"no state for {key}"
    return dict(state["events"]["phone_call"])


def test_a_request_of_several_calls_is_settled_in_one_step(ga4_url: str, recorded: SandboxState) -> None:
    """The events of a request GA4 accepted are marked sent for all its calls in one lock take,
    one read and one write: each write is a transaction of the state store."""
    calls = _one_visitors_calls(5)
    context = _CountingContext()

    result = connector(ga4_url, context).deliver([item(call, f"d{n}") for n, call in enumerate(calls)])

    assert all(isinstance(outcome, Delivered) for outcome in result.outcomes.values())
    assert len(recorded.hits()) == 1, "one visitor's calls share one request"
    keys = sorted(call_key(call) for call in calls)
    assert context.lock_takes == [keys, keys, keys], "claim, start, settle: each once for the request"
    assert context.batch_reads == 3
    assert context.reads == []
    for key in keys:
        assert _mark(context, key)["status"] == "sent"


class _BusyAtSettleContext(_CountingContext):
    """One call's lock is held elsewhere once its request has started."""

    def __init__(self, busy: str) -> None:
        super().__init__()
        self.busy = busy

    @contextlib.contextmanager
    def locks(self, keys: Iterable[str], timeout_s: float = 30.0) -> Iterator[None]:
        keys = sorted(keys)
        self.lock_takes.append(keys)
        if len(self.lock_takes) > 2 and self.busy in keys:
            raise RetryableError(f"lock {self.busy} is held by another worker", reason="lock_timeout")
        yield


def test_a_busy_lock_at_settling_keeps_only_its_own_call_pending(
    ga4_url: str, recorded: SandboxState
) -> None:
    calls = _one_visitors_calls(3)
    keys = [call_key(call) for call in calls]
    context = _BusyAtSettleContext(keys[1])

    result = connector(ga4_url, context).deliver([item(call, f"d{n}") for n, call in enumerate(calls)])

    assert len(recorded.events()) == 3, "all three were sent, once"
    assert context.lock_takes[2] == sorted(keys), "all calls at once first"
    assert context.lock_takes[3:] == [[key] for key in keys], "then each call alone"
    marks = {key: _mark(context, key) for key in keys}
    assert marks[keys[0]]["status"] == marks[keys[2]]["status"] == "sent"
    assert marks[keys[1]]["status"] == "pending", "never sent again, never marked sent unlocked"
    assert marks[keys[1]]["phase"] == "sending"
    outcome = result.outcomes["d1"]
    assert "phone_call sent, but its record stays pending" in str(outcome)
