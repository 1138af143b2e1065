"""CTM specifics beyond the shared contract: sample signatures, the replay window, webhook kinds."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.core.errors import SignatureError
from tests.providers.support import FIXTURES, RECEIVED_AT, fixture_request, make_provider
from webhooks.base import InboundRequest

# From tests/fixtures/providers/ctm/README.md.
SAMPLE_SECRET = "ctm_test_secret_4f8a1e9c2b7d"
SAMPLE_SIGNATURES = {
    "call_start_inbound.json": ("1710267728", "jzZS1aU+/2CkHva5FFa6OVimHXM="),
    "call_end_answered_web_session.json": ("1710268161", "m3iEiPuQk8chDgXjfGI5qMw6qgM="),
    "call_end_missed.json": ("1710287276", "7NavjtrPMDXROHHXKBg4nVemzKA="),
    "call_end_voicemail.json": ("1710324820", "LUA/wKfPTjvrlsSdpLJtmH2RKNo="),
    "call_update_sale_tags.json": ("1710270002", "9NXLpHrjFLLV8s5N7fTDwNt0+j0="),
}


def _request(name: str) -> InboundRequest:
    return fixture_request("ctm", FIXTURES / "ctm" / name)


def _sent(request: InboundRequest, sent_at: str, signature: str) -> InboundRequest:
    headers = request.headers.with_values(**{"X-CTM-Time": sent_at, "X-CTM-Signature": signature})
    return dataclasses.replace(request, headers=headers)


def _refusal(request: InboundRequest, now: datetime, **options: object) -> str:
    with pytest.raises(SignatureError) as caught:
        make_provider("ctm", **options).verify(request, [SAMPLE_SECRET], now)
    return caught.value.reason


@pytest.mark.parametrize(("name", "sent"), SAMPLE_SIGNATURES.items())
def test_published_sample_signatures_verify(name: str, sent: tuple[str, str]) -> None:
    sent_at, signature = sent
    when = datetime.fromtimestamp(int(sent_at), tz=UTC)
    provider = make_provider("ctm")
    assert provider.sign(_request(name), SAMPLE_SECRET, when).headers["X-CTM-Signature"] == signature
    # CTM's Ruby sample leaves Base64.encode64's newline in place unless stripped.
    provider.verify(_sent(_request(name), sent_at, signature + "\n"), [SAMPLE_SECRET], when)


def test_signature_covers_the_time_header() -> None:
    sent_at, signature = SAMPLE_SIGNATURES["call_end_missed.json"]
    moved = _sent(_request("call_end_missed.json"), str(int(sent_at) + 1), signature)
    assert _refusal(moved, datetime.fromtimestamp(int(sent_at), tz=UTC)) == "bad_signature"


@pytest.mark.parametrize(
    ("age_s", "options", "accepted"),
    [
        (299, {}, True),
        (301, {}, False),
        (-301, {}, False),
        (500, {"timestamp_tolerance_s": 600}, True),
        (601, {"timestamp_tolerance_s": "600"}, False),
    ],
)
def test_replay_window(age_s: int, options: dict[str, object], accepted: bool) -> None:
    provider = make_provider("ctm", **options)
    signed = provider.sign(
        _request("call_end_missed.json"), SAMPLE_SECRET, RECEIVED_AT - timedelta(seconds=age_s)
    )
    if accepted:
        provider.verify(signed, [SAMPLE_SECRET], RECEIVED_AT)
    else:
        assert _refusal(signed, RECEIVED_AT, **options) == "stale_signature"


def test_unreadable_time_header_is_refused() -> None:
    request = _request("call_end_missed.json")
    signed = make_provider("ctm").sign(request, SAMPLE_SECRET, RECEIVED_AT)
    odd = dataclasses.replace(signed, headers=signed.headers.with_values(**{"X-CTM-Time": "yesterday"}))
    assert _refusal(odd, RECEIVED_AT) == "bad_signature"


def test_missing_time_header_is_a_missing_signature() -> None:
    request = _request("call_end_missed.json")
    only_signature = request.headers.with_values(**{"X-CTM-Signature": "abc="})
    assert _refusal(dataclasses.replace(request, headers=only_signature), RECEIVED_AT) == "missing_signature"


@pytest.mark.parametrize(
    ("name", "event", "kind"),
    [
        ("call_start_inbound.json", None, "call.started"),
        ("call_end_answered_web_session.json", None, "call.completed"),
        ("call_update_sale_tags.json", None, "call.updated"),
        ("call_end_answered_web_session.json", "update", "call.updated"),
        ("call_update_sale_tags.json", "end", "call.completed"),
    ],
)
def test_kind_from_webhook_url_or_body(name: str, event: str | None, kind: str) -> None:
    request = _request(name)
    if event:
        request = dataclasses.replace(request, url=f"{request.url}?event={event}")
    [event_out] = make_provider("ctm").normalize(request)
    assert event_out.kind == kind
    assert event_out.provider_call_id == "2394857712"


def test_ga4_measurement_id_option_picks_the_stream() -> None:
    request = _request("call_end_ga4_utmz_international.json")
    [first_stream] = make_provider("ctm").normalize(request)
    [chosen] = make_provider("ctm", ga4_measurement_id="G-NORDIC01").normalize(request)
    assert first_stream.attribution.ga_session_id == "1711840000"
    assert chosen.attribution.ga_session_id == "1711846522"


def test_click_id_recorded_only_on_a_touchpoint_is_kept() -> None:
    request = _request("call_end_answered_web_session.json")
    data = json.loads(request.body)
    data["ga"]["gclid"] = None
    data["location"] = "https://www.peachtreeplumbing.example/emergency-plumber"
    data["touchpoints"][0].update(type="msclkid", clickid="bing-click-1")
    [event] = make_provider("ctm").normalize(dataclasses.replace(request, body=json.dumps(data).encode()))
    assert (event.attribution.gclid, event.attribution.msclkid) == (None, "bing-click-1")


def test_a_configured_ga4_stream_absent_from_the_call_gives_no_session() -> None:
    from pathlib import Path

    from hub.samples import request_from_file
    from webhooks.base import SourceSettings
    from webhooks.registry import create

    fixture = (
        Path(__file__).resolve().parent.parent
        / "fixtures"
        / "providers"
        / "ctm"
        / "call_end_ga4_utmz_international.json"
    )
    request = request_from_file(fixture, "https://hub.example/webhooks/ctm")
    other = create(
        "ctm", SourceSettings("ctm", options={"ga4_measurement_id": "G-NOTTHISONE"}), Path("mappings")
    )
    [event] = other.normalize(request)
    assert event.attribution.ga_session_id is None, "another property's session never joins this one"
    default = create("ctm", SourceSettings("ctm"), Path("mappings"))
    [event] = default.normalize(request)
    assert event.attribution.ga_session_id is not None
