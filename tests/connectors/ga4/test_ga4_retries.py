"""Failures: what is retried, what is not, and how at-most-once survives them."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import flask
import pytest
import requests

from connectors.base import Delivered, MemoryContext, PermanentError, RetryableError, Skipped
from connectors.ga4 import GA4Connector
from connectors.ga4.fake.state import SandboxState
from hub.local_server import LocalServer
from hub.redis_server import free_port
from tests.connectors.ga4.calls import NOW, callrail_call, clock, item, settings, with_attribution

STATE_KEY = "call:callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1"


def fault(http: requests.Session, url: str, **spec: object) -> None:
    http.post(f"{url}/__fake__/faults", json=spec, timeout=5).raise_for_status()


def test_5xx_is_retried_and_the_retry_sends_once(
    ga4_url: str, recorded: SandboxState, http: requests.Session
) -> None:
    context = MemoryContext()
    ga4 = GA4Connector(settings(ga4_url), context, clock=clock)
    fault(http, ga4_url, endpoint="collect", status=503)

    failed = ga4.deliver([item(callrail_call(), "d1")]).outcomes["d1"]
    retried = ga4.deliver([item(callrail_call(), "d1")]).outcomes["d1"]

    assert isinstance(failed, RetryableError)
    assert failed.reason == "unavailable"
    assert isinstance(retried, Delivered)
    assert [event.name for event in recorded.events()] == ["phone_call"]


def test_429_honours_retry_after(ga4_url: str, http: requests.Session) -> None:
    fault(http, ga4_url, endpoint="collect", status=429, retry_after=42)
    outcome = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock).deliver([item(callrail_call())])

    error = outcome.outcomes["d1"]
    assert isinstance(error, RetryableError)
    assert error.reason == "rate_limited"
    assert error.retry_after == 42


def test_4xx_means_a_broken_request_and_is_not_retried(ga4_url: str, http: requests.Session) -> None:
    fault(http, ga4_url, endpoint="collect", status=400)
    error = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock).deliver([item(callrail_call())])

    assert isinstance(error.outcomes["d1"], PermanentError)


def test_unreachable_host_is_retried_and_nothing_stays_pending() -> None:
    context = MemoryContext()
    ga4 = GA4Connector(settings(f"http://127.0.0.1:{free_port()}"), context, clock=clock)
    outcome = ga4.deliver([item(callrail_call())]).outcomes["d1"]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "unreachable"
    assert context.get_state(STATE_KEY) == {"events": {}}


def test_lost_answer_leaves_the_event_in_doubt_and_it_is_not_resent() -> None:
    """The POST reached the server but the answer never came: GA4 may have counted it."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def swallow_one_request() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += connection.recv(65536)
            received.append(body)
            # Closed without a status line: the sender cannot know whether it was processed.

    server = threading.Thread(target=swallow_one_request, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    context = MemoryContext()
    first = GA4Connector(settings(url), context, clock=clock).deliver([item(callrail_call())]).outcomes["d1"]
    server.join(timeout=10)
    listener.close()
    later = GA4Connector(settings(url), context, clock=lambda: NOW + timedelta(minutes=30))
    second = later.deliver([item(callrail_call())]).outcomes["d1"]

    assert len(received) == 1
    assert isinstance(first, RetryableError)
    assert "will not be resent" in first.message
    assert isinstance(second, Skipped)
    assert second.reason == "in_doubt"


def test_process_death_between_post_and_state_write_is_not_resent(
    ga4_url: str, recorded: SandboxState
) -> None:
    # What a worker killed after the POST leaves behind: the event marked pending, never confirmed.
    context = MemoryContext(
        {STATE_KEY: {"events": {"phone_call": {"status": "pending", "at": "2024-03-12T18:05:00Z"}}}}
    )
    outcome = (
        GA4Connector(settings(ga4_url), context, clock=clock).deliver([item(callrail_call())]).outcomes["d1"]
    )

    assert isinstance(outcome, Skipped)
    assert outcome.reason == "in_doubt"
    assert recorded.hits() == []


def test_fresh_pending_mark_means_another_worker_is_sending(ga4_url: str, recorded: SandboxState) -> None:
    context = MemoryContext(
        {STATE_KEY: {"events": {"phone_call": {"status": "pending", "at": "2024-03-12T18:41:00Z"}}}}
    )
    outcome = (
        GA4Connector(settings(ga4_url), context, clock=clock).deliver([item(callrail_call())]).outcomes["d1"]
    )

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "in_flight"
    assert recorded.hits() == []


def test_resend_in_doubt_option_sends_again(ga4_url: str, recorded: SandboxState) -> None:
    context = MemoryContext(
        {STATE_KEY: {"events": {"phone_call": {"status": "pending", "at": "2024-03-12T18:05:00Z"}}}}
    )
    ga4 = GA4Connector(settings(ga4_url, resend_in_doubt=True), context, clock=clock)
    outcome = ga4.deliver([item(callrail_call())]).outcomes["d1"]

    assert isinstance(outcome, Delivered)
    assert len(recorded.events()) == 1


def test_validate_first_posts_to_the_debug_endpoint_then_collects(
    ga4_url: str, recorded: SandboxState
) -> None:
    result = GA4Connector(settings(ga4_url, validate_before_send=True), MemoryContext(), clock=clock).deliver(
        [item(callrail_call())]
    )

    assert isinstance(result.outcomes["d1"], Delivered)
    assert [exchange.url.split("?")[0].removeprefix(ga4_url) for exchange in result.exchanges] == [
        "/debug/mp/collect",
        "/mp/collect",
    ]
    assert len(recorded.events()) == 1


def test_validate_first_rejects_on_validation_messages() -> None:
    """GA's validator can know rules the hub does not: its messages refuse the event."""
    collected: list[bytes] = []
    app = flask.Flask("ga4_strict_validator")

    @app.post("/debug/mp/collect")
    def validate() -> flask.Response:
        body = flask.request.get_json()
        messages = [
            {"fieldPath": "events", "description": f"Event at index: [{index}] has invalid name [{event['name']}].",
             "validationCode": "NAME_INVALID"}
            for index, event in enumerate(body["events"])
            if event["name"] == "qualified_call"
        ]  # fmt: skip
        return flask.jsonify({"validationMessages": messages})

    @app.post("/mp/collect")
    def collect() -> flask.Response:
        collected.append(flask.request.get_data())
        return flask.Response(status=204)

    from tests.connectors.ga4.calls import qualified

    with LocalServer(app) as server:
        ga4 = GA4Connector(settings(server.url, validate_before_send=True), MemoryContext(), clock=clock)
        result = ga4.deliver(
            [item(qualified(callrail_call()), "d1"), item(callrail_call(provider_call_id="x"), "d2")]
        )

    rejected = result.outcomes["d1"]
    assert isinstance(rejected, PermanentError)
    assert rejected.reason == "rejected"
    assert rejected.details["validationMessages"][0]["validationCode"] == "NAME_INVALID"
    assert isinstance(result.outcomes["d2"], Delivered)
    assert len(collected) == 1
    assert b"qualified_call" not in collected[0]


def test_validation_server_down_fails_retryably_and_sends_nothing(
    ga4_url: str, recorded: SandboxState, http: requests.Session
) -> None:
    fault(http, ga4_url, endpoint="debug", status=503)
    context = MemoryContext()
    ga4 = GA4Connector(settings(ga4_url, validate_before_send=True), context, clock=clock)
    outcome = ga4.deliver([item(callrail_call())]).outcomes["d1"]

    assert isinstance(outcome, RetryableError)
    assert recorded.hits() == []
    assert isinstance(ga4.deliver([item(callrail_call())]).outcomes["d1"], Delivered)


class FailingStateContext(MemoryContext):
    """A state store that fails on chosen writes, as a database going away would."""

    def __init__(self, *fail_on_writes: int) -> None:
        super().__init__()
        self.writes = 0
        self.fail_on_writes = set(fail_on_writes)

    def put_state(self, key: str, value: Mapping[str, Any]) -> None:
        self.writes += 1
        if self.writes in self.fail_on_writes:
            raise OSError("state store unavailable")
        super().put_state(key, value)


@pytest.mark.parametrize(
    ("failing_writes", "first_outcome", "first_later"),
    [
        # The store stays away: "first sent" fails with other's start, and on its own after it.
        # The POST already happened, so the first call's event is in doubt, never resent.
        ((4, 5), RetryableError, "in_doubt"),
        # The store fails once, on the step that starts other's request: the first request's
        # event is marked sent on its own, and other's request stays unsent, retried later.
        ((4,), Delivered, "already_sent"),
    ],
)
def test_state_store_failure_after_a_post_never_resends_and_never_strands(
    ga4_url: str,
    recorded: SandboxState,
    failing_writes: tuple[int, ...],
    first_outcome: type[object],
    first_later: str,
) -> None:
    first_call = callrail_call()
    other_visitor = with_attribution(callrail_call(provider_call_id="other"), ga_client_id="555.666")
    # Writes: claim first, claim other, first's marks to `sending`, then "first sent" together
    # with other's start (the fourth), then "first sent" on its own when that failed.
    context = FailingStateContext(*failing_writes)
    result = GA4Connector(settings(ga4_url), context, clock=clock).deliver(
        [item(first_call, "d1"), item(other_visitor, "d2")]
    )

    assert isinstance(result.outcomes["d1"], first_outcome)
    assert isinstance(result.outcomes["d2"], RetryableError)
    assert [event.client_id for event in recorded.events()] == ["1187416732.1710263921"]
    later = GA4Connector(settings(ga4_url), context, clock=lambda: NOW + timedelta(minutes=30))
    retried = later.deliver([item(first_call, "d1"), item(other_visitor, "d2")]).outcomes

    assert isinstance(retried["d1"], Skipped)
    assert retried["d1"].reason == first_later
    assert isinstance(retried["d2"], Delivered)
    assert [event.client_id for event in recorded.events()] == ["1187416732.1710263921", "555.666"]
