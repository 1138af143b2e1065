"""WhatConverts quirks: lead types, trigger vocabulary, token in the URL, odd value shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.core.errors import NotACall, SignatureError
from tests.providers.support import FIXTURES, fixture_request, make_provider
from webhooks.base import Headers, InboundRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
COMPLETED = FIXTURES / "whatconverts" / "phone_call_completed_web_session.json"


def lead(**changes: Any) -> InboundRequest:
    data = json.loads(COMPLETED.read_text())
    data.update(changes)
    body = json.dumps(data).encode()
    return InboundRequest("POST", "https://hub.example.com/webhooks/wc", Headers(), body, NOW)


@pytest.mark.parametrize("lead_type", ["Web Form", "Chat", "Text Message", "web_form"])
def test_leads_that_are_not_calls_are_ignored_with_their_type(lead_type: str) -> None:
    with pytest.raises(NotACall) as caught:
        make_provider("whatconverts").normalize(lead(lead_type=lead_type))
    assert lead_type in caught.value.message
    assert caught.value.reason == "not_a_call"


@pytest.mark.parametrize("lead_type", ["Phone Call", "phone_call", "PHONE CALL", "phone-call"])
def test_every_spelling_of_a_phone_call_lead_is_a_call(lead_type: str) -> None:
    (event,) = make_provider("whatconverts").normalize(lead(lead_type=lead_type))
    assert event.caller.number is not None
    assert event.call.duration_s is not None
    assert event.tracking_number is not None


def test_documented_ga_client_id_and_facebook_click_id_are_kept() -> None:
    (event,) = make_provider("whatconverts").normalize(
        lead(google_analytics_client_id="GA1.2.1234567890.1700000000", facebook_click_id="fb.1.abc")
    )
    assert event.attribution.ga_client_id == "1234567890.1700000000"
    assert event.attribution.fbclid == "fb.1.abc"


def test_unreadable_date_falls_back_to_receipt_time_with_a_warning() -> None:
    (event,) = make_provider("whatconverts").normalize(lead(date_created="yesterday-ish", last_updated=None))
    assert event.occurred_at == NOW
    assert event.call.started_at is None
    assert any(w.startswith("date_created:") for w in event.warnings)


@pytest.mark.parametrize(
    ("trigger", "state", "kind"),
    [
        ("new", "In Progress", "call.started"),
        ("new", "Completed", "call.completed"),
        ("update", "Completed", "call.updated"),
        ("update", "In Progress", "call.updated"),
        ("new", "Archived", "unknown"),
    ],
)
def test_trigger_and_lead_state_decide_the_kind(trigger: str, state: str, kind: str) -> None:
    [event] = make_provider("whatconverts").parse(lead(trigger=trigger, lead_state=state))
    assert event.kind == kind


def test_token_rides_in_the_url() -> None:
    provider = make_provider("whatconverts")
    request = fixture_request("whatconverts", COMPLETED)
    signed = provider.sign(request, "s3cret", NOW)
    assert signed.url.endswith("?token=s3cret")
    provider.verify(signed, ["s3cret"], NOW)
    with pytest.raises(SignatureError) as caught:
        provider.verify(request, ["s3cret"], NOW)
    assert caught.value.reason == "missing_signature"


def test_sales_value_wins_over_quote_and_currency_comes_from_the_source() -> None:
    provider = make_provider("whatconverts", currency="usd")
    [event] = provider.parse(lead(quote_value="900", sales_value="$1,250.00"))
    assert (str(event.outcome.value), event.outcome.currency) == ("1250.00", "USD")
    [event] = make_provider("whatconverts").parse(lead(quote_value=900, sales_value=None))
    assert (str(event.outcome.value), event.outcome.currency) == ("900", None)


def test_caller_id_placeholder_and_contact_fallbacks() -> None:
    [event] = make_provider("whatconverts").parse(
        lead(
            contact_name="",
            caller_name="WIRELESS CALLER",
            caller_number="",
            contact_phone_number="(470) 555-0183",
        )
    )
    assert event.caller.name is None
    assert event.caller.number == "+14705550183"


def test_lead_analysis_and_additional_fields_shapes() -> None:
    provider = make_provider("whatconverts")
    [event] = provider.parse(lead(lead_analysis=[], additional_fields=""))
    assert "lead_analysis" not in event.custom
    assert "additional_fields" not in event.custom
    fields = [{"field_name": "Job", "field_value": "Boiler"}, {"field_value": "orphan"}]
    [event] = provider.parse(lead(additional_fields=fields))
    assert event.custom["additional_fields"] == {"Job": "Boiler"}


def test_missing_lead_id_is_explained() -> None:
    from hub.core.errors import ParseError

    with pytest.raises(ParseError, match="lead_id"):
        make_provider("whatconverts").normalize(lead(lead_id=None))


def test_fixture_folder_is_the_projects_own() -> None:
    assert Path(FIXTURES).is_relative_to(Path(__file__).resolve().parents[1])
