"""Every Measurement Protocol limit is enforced before anything is sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectors.base import Delivered, MemoryContext, PermanentError
from connectors.ga4 import GA4Connector, limits
from connectors.ga4.fake.state import SandboxState
from connectors.ga4.payload import EventRef, draft_event, pack_requests
from tests.connectors.ga4.calls import NOW, callrail_call, clock, item, micros, record, settings


def send(url: str, *records: Any) -> object:
    ga4 = GA4Connector(settings(url), MemoryContext(), clock=clock)
    return ga4.deliver([item(callrail_call(), records=list(records))]).outcomes["d1"]


@pytest.mark.parametrize(
    ("name", "fields", "reason"),
    [
        ("too_many_params", {f"params.p{n}": n for n in range(26)}, "mapping"),
        ("event_name_too_long", {}, "mapping"),
        ("event name with spaces", {}, "mapping"),
        ("9starts_with_digit", {}, "mapping"),
        ("session_start", {}, "mapping"),
        ("notification_send", {}, "mapping"),
        ("ga_reserved_prefix_event", {}, "mapping"),
        ("phone_call", {"params." + "p" * 41: "x"}, "mapping"),
        ("phone_call", {"params.bad-name": "x"}, "mapping"),
        ("phone_call", {"params.firebase_conversion": "1"}, "mapping"),
        ("phone_call", {"params.gtag.debug": "x"}, "mapping"),
        ("phone_call", {"params.ga_campaign": "x"}, "mapping"),
        ("phone_call", {"params.google_source": "x"}, "mapping"),
        ("phone_call", {"params.firebase_id": "x"}, "mapping"),
        ("phone_call", {"params._private": "x"}, "mapping"),
        ("phone_call", {"params.items": [{"item_id": "x" * 1000}] * 140}, "mapping"),
        ("phone_call", {"client_id": None}, None),
        ("phone_call", {"timestamp_micros": micros(NOW - timedelta(hours=73))}, "too_old"),
        ("phone_call", {"timestamp_micros": micros(NOW + timedelta(hours=2))}, "mapping"),
        ("phone_call", {"value": 10}, "mapping"),
        ("phone_call", {"params.nested": {"a": 1}}, "mapping"),
        ("phone_call", {"consent.ad_user_data": "YES"}, "mapping"),
        ("phone_call", {"user_properties.first_open_time": "1"}, "mapping"),
        ("phone_call", {"user_properties." + "u" * 25: "1"}, "mapping"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_limit_is_refused_before_sending(
    ga4_url: str, recorded: SandboxState, name: str, fields: dict[str, Any], reason: str | None
) -> None:
    if name == "event_name_too_long":
        name = "e" * 41
    outcome = send(ga4_url, record(name, fields))

    if reason is None:  # no client id: a skip, counted, not an error
        assert getattr(outcome, "reason", None) == "no_ga_client_id"
    else:
        assert isinstance(outcome, PermanentError), outcome
        assert outcome.reason == reason
    assert recorded.hits() == []


def test_events_just_inside_the_backdating_window_are_sent(ga4_url: str, recorded: SandboxState) -> None:
    outcome = send(ga4_url, record(timestamp_micros=micros(NOW - timedelta(hours=71))))
    assert isinstance(outcome, Delivered)
    assert outcome.note.startswith("user-only"), "no session id in this record: nothing else to say"
    assert ";" not in outcome.note
    assert len(recorded.events()) == 1


def test_session_sent_after_24_hours_is_sent_with_a_warning(ga4_url: str) -> None:
    late = record(
        "phone_call", {"params.session_id": "1710263921"}, timestamp_micros=micros(NOW - timedelta(hours=30))
    )
    outcome = send(ga4_url, late)
    assert isinstance(outcome, Delivered)
    assert "will not join it to the web session" in outcome.note
    assert outcome.external_ids["attribution"] == "user", "a session id sent too late joins no session"


def test_too_old_reason_names_the_window(ga4_url: str) -> None:
    outcome = send(ga4_url, record(timestamp_micros=micros(NOW - timedelta(days=5))))
    assert isinstance(outcome, PermanentError)
    assert "72-hour" in outcome.message
    assert outcome.details["problems"][0]["event"] == "phone_call"


def test_param_values_over_100_characters_are_cut_not_dropped(ga4_url: str, recorded: SandboxState) -> None:
    outcome = send(ga4_url, record("phone_call", {"params.call_campaign": "c" * 150}))

    assert isinstance(outcome, Delivered)
    assert "param call_campaign cut to 100 characters" in outcome.note
    assert recorded.events()[0].params["call_campaign"] == "c" * 100


def test_25_params_including_the_defaults_are_accepted(ga4_url: str, recorded: SandboxState) -> None:
    fields = {f"params.p{n}": n for n in range(24)}
    outcome = send(ga4_url, record("phone_call", fields))
    assert isinstance(outcome, Delivered)
    assert len(recorded.events()[0].params) == 25


def test_more_than_25_events_of_one_visitor_are_split_into_requests(
    ga4_url: str, recorded: SandboxState
) -> None:
    ga4 = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock)
    items = [
        item(callrail_call(provider_call_id=f"call-{n}"), f"d{n}", [record("phone_call")]) for n in range(30)
    ]
    result = ga4.deliver(items)

    assert all(isinstance(outcome, Delivered) for outcome in result.outcomes.values())
    assert [len(hit.body["events"]) for hit in recorded.hits()] == [25, 5]
    assert len(recorded.events()) == 30


def test_requests_are_split_under_130_kb() -> None:
    bulky = record("phone_call", {"params.items": [{"item_id": "x" * 100}] * 300})
    draft = draft_event(bulky)
    assert limits.body_size({**draft.envelope, "events": [draft.event]}) > 30_000
    packed = pack_requests([(EventRef(f"d{n}", f"call:{n}", "phone_call"), draft) for n in range(10)])

    assert len(packed) > 1
    assert all(limits.body_size(request.body) < limits.MAX_BODY_BYTES for request in packed)
    assert sum(len(request.refs) for request in packed) == 10


def test_visitors_do_not_share_requests() -> None:
    drafts = [
        (EventRef("d1", "call:1", "phone_call"), draft_event(record(client_id="1.1"))),
        (EventRef("d2", "call:2", "phone_call"), draft_event(record(client_id="2.2"))),
        (EventRef("d3", "call:3", "phone_call"), draft_event(record(client_id="1.1"))),
    ]
    packed = pack_requests(drafts)
    assert [[ref.delivery_id for ref in request.refs] for request in packed] == [["d1", "d3"], ["d2"]]
