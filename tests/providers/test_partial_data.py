"""Partial data beats no data; a payload that is not a call is ignored, never delivered as one.

One unreadable time, number or duration leaves that value out (a time falls back to the receipt
time) and says so on the event; only a missing call id refuses a payload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from hub.core.errors import NotACall, ParseError
from hub.samples import request_from_bytes
from tests.providers.support import FIXTURES, RECEIVED_AT, hub_url, make_provider
from tests.providers.test_generic import ENVELOPE, post_json, provider_for
from webhooks.base import Headers, InboundRequest


def _json(slug: str, name: str, **changes: Any) -> InboundRequest:
    data = json.loads((FIXTURES / slug / name).read_text(encoding="utf-8"))
    data.update(changes)
    return request_from_bytes(name, json.dumps(data).encode(), hub_url(slug), RECEIVED_AT)


def _form(slug: str, name: str, **changes: str) -> InboundRequest:
    pairs = dict(parse_qsl((FIXTURES / slug / name).read_text(encoding="utf-8").strip()))
    pairs.update(changes)
    return request_from_bytes(name, urlencode(pairs).encode(), hub_url(slug), RECEIVED_AT)


def test_twilio_unreadable_timestamp_keeps_the_completed_call() -> None:
    (event,) = make_provider("twilio").normalize(
        _form("twilio", "parent_leg_completed.form", Timestamp="Someday, 99 Smarch 20x6")
    )
    assert event.kind == "call.completed"
    assert event.occurred_at == RECEIVED_AT
    assert event.caller.number is not None
    assert event.call.duration_s is not None
    assert [w.split(":")[0] for w in event.warnings] == ["Timestamp"]


def test_callrail_unreadable_start_time_falls_back_with_a_warning() -> None:
    (event,) = make_provider("callrail").normalize(
        _json("callrail", "post_call_missed.json", start_time="not a time", datetime=None)
    )
    assert event.call.started_at is None
    assert event.occurred_at == RECEIVED_AT
    assert any(w.startswith("start_time:") for w in event.warnings)
    assert event.caller.number is not None


def test_callrail_zero_duration_still_ends_the_call() -> None:
    (event,) = make_provider("callrail").normalize(_json("callrail", "post_call_missed.json", duration="0"))
    assert event.call.duration_s == 0
    assert event.call.ended_at == event.call.started_at is not None


@pytest.mark.parametrize("name", ["Laguna Beach Ca", "LAGUNA BEACH CA", "Laguna  Beach, CA"])
def test_callrail_caller_id_naming_the_place_is_no_caller_name(name: str) -> None:
    (event,) = make_provider("callrail").normalize(
        _json(
            "callrail",
            "post_call_missed.json",
            customer_name=name,
            formatted_customer_name=name,
            customer_city="Laguna Beach",
            customer_state="CA",
        )
    )
    assert event.caller.name is None
    assert event.caller.city == "Laguna Beach"


def test_callrail_a_person_named_like_no_place_keeps_the_name() -> None:
    (event,) = make_provider("callrail").normalize(
        _json(
            "callrail",
            "post_call_missed.json",
            customer_name="Dana Scully",
            formatted_customer_name="Dana Scully",
            customer_city="Laguna Beach",
            customer_state="CA",
        )
    )
    assert event.caller.name == "Dana Scully"


@pytest.mark.parametrize(
    "resource_id", ["FRM8e2d4f6a0b1c43d5e7f9a1b3c5d7e9f1", "SCI0c14896tw1b64fb970ab62aaf4fbefd9"]
)
def test_callrail_forms_and_texts_are_ignored(resource_id: str) -> None:
    with pytest.raises(NotACall, match=resource_id):
        make_provider("callrail").normalize(
            _json("callrail", "post_call_missed.json", resource_id=resource_id)
        )


@pytest.mark.parametrize("number", ["+11111111111", "+10000000000", "+266696687", "+15551234567"])
def test_ctm_placeholder_numbers_are_not_numbers(number: str) -> None:
    (event,) = make_provider("ctm").normalize(
        _json("ctm", "call_end_missed.json", caller_number=number, caller_number_complete=number)
    )
    assert event.caller.number is None
    digits = sum(char.isdigit() for char in number)
    assert event.warnings == (
        f"caller_number: not a usable phone number ({digits} digits)",
        f"caller_number_complete: not a usable phone number ({digits} digits)",
    )
    assert number not in " ".join(event.warnings), "a number is never echoed into warnings"


def test_ctm_direction_is_inbound_unless_outbound() -> None:
    provider = make_provider("ctm")
    (without,) = provider.normalize(_json("ctm", "call_end_missed.json", direction=None))
    (outbound,) = provider.normalize(_json("ctm", "call_end_missed.json", direction="outbound"))
    assert (without.call.direction, outbound.call.direction) == ("inbound", "outbound")


def test_withheld_caller_is_no_warning() -> None:
    (event,) = make_provider("ctm").normalize(
        _json("ctm", "call_end_missed.json", caller_number="anonymous", caller_number_complete="")
    )
    assert event.caller.number is None
    assert event.warnings == ()


def test_generic_unreadable_time_is_a_warning_and_a_missing_id_still_refuses(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, ENVELOPE)
    (event,) = provider.normalize(
        post_json(
            {
                "sent": 1710000000000,
                "data": {"calls": [{"ref": "r1", "stage": "end", "start": "31/31/2024 99:99"}]},
            }
        )
    )
    assert event.call.started_at is None
    assert any(w.startswith("call.started_at:") for w in event.warnings)
    with pytest.raises(ParseError, match="no call id"):
        provider.normalize(post_json({"data": {"calls": [{"stage": "end", "start": "nonsense"}]}}))


def test_an_id_and_nothing_understood_is_a_parse_failure_not_an_empty_event() -> None:
    request = request_from_bytes(
        "row.json", b'{"inboundCallId": "RGB1", "mystery": 1}', hub_url("ringba"), RECEIVED_AT
    )
    with pytest.raises(ParseError) as caught:
        make_provider("ringba").normalize(request)
    assert caught.value.reason == "not_understood"


def test_twilio_client_identity_is_no_number_and_no_warning() -> None:
    (event,) = make_provider("twilio").normalize(
        _form("twilio", "parent_leg_completed.form", From="client:alice")
    )
    assert event.caller.number is None
    assert event.warnings == ()


# --- rules every provider shares (webhooks/assemble.py) ---------------------------------------


def test_twilio_caller_id_naming_the_place_is_no_caller_name() -> None:
    (event,) = make_provider("twilio").normalize(
        _form("twilio", "parent_leg_completed.form", CallerName="DECATUR GA")
    )
    assert event.caller.name is None
    assert event.caller.city == "DECATUR"
    (named,) = make_provider("twilio").normalize(_form("twilio", "parent_leg_completed.form"))
    assert named.caller.name == "VEGA MARISOL"


PLACES = """\
name: Acme
auth: {type: token, query: token}
fields:
  provider_call_id: id
  kind: {value: call.completed}
  caller.name: cnam
  caller.city: city
  caller.region: state
"""


def test_a_yaml_provider_drops_caller_id_naming_the_place(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, PLACES)
    (place,) = provider.normalize(post_json({"id": "a1", "cnam": "Escondido    Ca", "city": "Escondido"}))
    (person,) = provider.normalize(
        post_json({"id": "a2", "cnam": "Dana Scully", "city": "Escondido", "state": "CA"})
    )
    assert (place.caller.name, person.caller.name) == (None, "Dana Scully")


UNREADABLE = """\
name: Acme
auth: {type: token, query: token}
fields:
  provider_call_id: id
  kind: {value: call.completed}
  call.duration_s: length
  call.first_call: first
  call.direction: direction
  call.status:
    from: [outcome, event]
    map: {picked-up: answered, no-answer: missed}
  caller.country: country
  outcome.value: amount
  custom.note: note
"""


def test_a_yaml_provider_warns_for_every_value_it_cannot_read(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, UNREADABLE)
    (event,) = provider.normalize(
        post_json(
            {
                "id": "c1",
                "length": "a while",
                "first": "perhaps",
                "direction": "sideways",
                "outcome": "hung-up",
                "event": "call.ended",
                "country": "Atlantis",
                "amount": "1.250,00",
                "note": "  ",
            }
        )
    )
    assert (event.call.duration_s, event.call.first_call, event.call.direction) == (None, None, None)
    assert (event.call.status, event.caller.country, event.outcome.value) == (None, None, None)
    assert event.warnings == (
        "call.duration_s: unreadable duration 'a while'",
        "call.first_call: unreadable yes/no value 'perhaps'",
        "call.direction: 'sideways' is not one of inbound, outbound",
        "call.status: 'hung-up' is not in the value map",
        "caller.country: unreadable country 'Atlantis'",
        "outcome.value: unreadable amount '1.250,00'",
    )
    # Blanks, "--" and a fallback event name the map does not know are no lost values.
    (quiet,) = provider.normalize(
        post_json({"id": "c2", "amount": "--", "event": "call.ended", "length": ""})
    )
    assert quiet.warnings == ()


@pytest.mark.parametrize(
    ("slug", "name", "changes", "warning"),
    [
        ("callrail", "post_call_missed.json", {"value": "twelve"}, "value: unreadable amount 'twelve'"),
        ("ctm", "call_end_missed.json", {"sale": {"value": "lots"}}, "sale.value: unreadable amount 'lots'"),
    ],
)
def test_an_unreadable_money_value_is_a_warning(
    slug: str, name: str, changes: dict[str, Any], warning: str
) -> None:
    (event,) = make_provider(slug).normalize(_json(slug, name, **changes))
    assert event.outcome.value is None
    assert warning in event.warnings


def test_a_retreaver_revenue_that_is_no_amount_is_a_warning() -> None:
    url = "/webhooks/retreaver?event=ended&call_uuid=abc-123&caller=%2B15550101234&revenue=TBD"
    request = InboundRequest("GET", f"https://hub.example.com{url}", Headers({}), b"", RECEIVED_AT)
    (event,) = make_provider("retreaver").normalize(request)
    assert event.outcome.value is None
    assert "revenue: unreadable amount 'TBD'" in event.warnings
