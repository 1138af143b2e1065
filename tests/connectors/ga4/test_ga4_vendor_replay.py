"""Google's documented answers replayed to the GA4 connector: the Measurement Protocol through
`requests` (Google ships no MP client), the Data API through google-analytics-data.

Bodies come from tests/fixtures/vendors/ga4/, each with its source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import Delivered, MemoryContext, PermanentError, RetryableError
from connectors.ga4 import GA4Connector
from connectors.ga4.data_api import probe_data_api
from tests.connectors.ga4.calls import clock, ctm_call, item, settings
from tests.connectors.vendor_replay import ReplayServer, all_recorded, recorded


@pytest.fixture
def replay() -> Iterator[tuple[ReplayServer, str]]:
    server = ReplayServer()
    with server.serve() as running:
        yield server, running.url


def _connector(url: str, **options: Any) -> GA4Connector:
    return GA4Connector(settings(url, **options), MemoryContext(), clock=clock)


def test_every_recorded_answer_names_its_source() -> None:
    answers = list(all_recorded("ga4"))
    assert len(answers) >= 5
    assert all(answer.source.startswith("https://") for answer in answers)


def test_collect_answers_204_without_a_body_and_the_call_is_delivered(replay) -> None:
    server, url = replay
    server.on("POST", "/mp/collect", lambda path, body: recorded("ga4", "mp_collect_204").answer())

    outcome = _connector(url).deliver([item(ctm_call())]).outcomes["d1"]

    assert isinstance(outcome, Delivered)
    assert outcome.external_ids["attribution"] == "session"
    [sent] = server.requests_to("/mp/collect")
    assert sent["events"][0]["name"] == "phone_call"


def test_validation_servers_documented_refusal_keeps_the_event_from_collect(replay) -> None:
    server, url = replay
    server.on("POST", "/debug/mp/collect", lambda p, b: recorded("ga4", "mp_debug_name_invalid").answer())
    server.on("POST", "/mp/collect", lambda path, body: recorded("ga4", "mp_collect_204").answer())

    outcome = _connector(url, validate_before_send=True).deliver([item(ctm_call())]).outcomes["d1"]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "rejected"
    assert "NAME_INVALID" in outcome.message
    assert "Names must start with an alphabetic character" in outcome.message
    assert server.requests_to("/mp/collect") == []


def test_validation_servers_empty_answer_lets_the_event_through(replay) -> None:
    server, url = replay
    server.on("POST", "/debug/mp/collect", lambda path, body: recorded("ga4", "mp_debug_valid").answer())
    server.on("POST", "/mp/collect", lambda path, body: recorded("ga4", "mp_collect_204").answer())

    outcome = _connector(url, validate_before_send=True).deliver([item(ctm_call())]).outcomes["d1"]

    assert isinstance(outcome, Delivered)
    assert len(server.requests_to("/mp/collect")) == 1


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("data_api_429_resource_exhausted", RetryableError, "rate_limited"),
        ("data_api_403_permission_denied", PermanentError, "unauthorized"),
    ],
)
def test_data_api_refusals_through_the_real_client(replay, name: str, kind: type, reason: str) -> None:
    server, url = replay
    answer = recorded("ga4", name)
    server.on("POST", r"/v1beta/properties/[^/]+:runReport", lambda path, body: answer.answer())
    destination = settings(url)
    connector = _connector(url)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - google-api-core's class is the point
        probe_data_api(destination)
    error = connector.classify(raised.value)

    assert isinstance(error, kind)
    assert error.reason == reason
    assert answer.body["error"]["message"][:30] in error.message
