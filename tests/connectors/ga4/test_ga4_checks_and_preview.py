"""GA4 beyond send: options, mapping checks, preview, check and describe.

What every connector must do (check, classify, preview, replay, masking) is in tests/connectors/test_contract.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from google.api_core import exceptions as google_errors

from connectors.base import MemoryContext, PermanentError, RetryableError
from connectors.ga4 import GA4Connector, limits
from connectors.ga4.fake.state import SandboxState
from hub.core.errors import ConfigError
from hub.mapping import load_mapping
from tests.connectors.ga4.calls import (
    API_SECRET,
    MAPPINGS,
    MEASUREMENT_ID,
    NOW,
    callrail_call,
    clock,
    item,
    qualified,
    settings,
    with_attribution,
)


def test_option_problems_name_each_bad_option() -> None:
    assert GA4Connector.option_problems({}) == []
    assert (
        GA4Connector.option_problems(
            {"region": "eu", "user_data": ["callrail"], "no_client_id": "pseudonymous"}
        )
        == []
    )
    problems = GA4Connector.option_problems(
        {"region": "mars", "no_client_id": "guess", "consent": {"ad_user_data": "yes"}, "colour": "blue"}
    )
    assert [problem.split(":")[0] for problem in problems] == [
        "options.colour",
        "options.region",
        "options.no_client_id",
        "options.consent",
    ]


def test_mapping_problems_refuse_bad_event_names_and_options() -> None:
    assert GA4Connector.mapping_problems("phone_call", {}) == []
    assert GA4Connector.mapping_problems("first_visit", {}) != []
    assert GA4Connector.mapping_problems("x" * 41, {}) != []
    assert GA4Connector.mapping_problems("phone call", {}) != []
    assert GA4Connector.mapping_problems("phone_call", {"dedupe": False}) != []


def test_mapping_loader_reports_a_reserved_event_name(tmp_path: Path) -> None:
    path = tmp_path / "ga4" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(
        "version: 1\nevent: session_start\nfields:\n  client_id: {from: attribution.ga_client_id}\n"
    )
    with pytest.raises(ConfigError, match="reserved by GA4"):
        load_mapping(path, connector=GA4Connector)


@pytest.mark.parametrize("path", sorted(MAPPINGS.glob("*.yaml")), ids=lambda path: path.name)
def test_shipped_mappings_load_and_render_within_ga4_limits(path: Path) -> None:
    mapping = load_mapping(path, connector=GA4Connector)
    rendered = mapping.render(qualified(callrail_call()))
    ga4 = GA4Connector(settings("http://127.0.0.1:9"), MemoryContext(), clock=clock)
    [request] = ga4.preview(item(qualified(callrail_call()), records=[rendered]))  # type: ignore[list-item]
    [event] = request.body["events"]
    assert event["name"] == mapping.target
    assert "gclid" not in event["params"]
    assert len(event["params"]) <= 25


def test_preview_shows_the_exact_url_without_the_secret_and_the_body() -> None:
    ga4 = GA4Connector(settings("http://127.0.0.1:9"), MemoryContext(), clock=clock)
    [request] = ga4.preview(item(callrail_call()))

    assert request.method == "POST"
    assert request.url == f"http://127.0.0.1:9/mp/collect?measurement_id={MEASUREMENT_ID}"
    assert API_SECRET not in repr(request)
    assert request.body["client_id"] == "1187416732.1710263921"
    assert request.body["events"][0]["name"] == "phone_call"


def test_preview_of_the_eu_region_and_of_what_was_already_sent() -> None:
    state = {
        "call:callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1": {"events": {"phone_call": {"status": "sent"}}}
    }
    ga4 = GA4Connector(settings(None, region="eu"), MemoryContext(state), clock=clock)

    assert ga4.preview(item(callrail_call())) == []
    [request] = ga4.preview(item(qualified(callrail_call())))
    assert request.url.startswith("https://region1.google-analytics.com/mp/collect?")
    assert [event["name"] for event in request.body["events"]] == ["qualified_call"]


CALL_KEY = "call:callrail:CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1"


def _pending(claim: str, phase: str, minutes_ago: float = 1) -> dict[str, object]:
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return {
        CALL_KEY: {"events": {"phone_call": {"status": "pending", "at": at, "phase": phase, "claim": claim}}}
    }


@pytest.mark.parametrize("resend_in_doubt", [False, True])
def test_preview_judges_another_claims_pending_mark_as_send_does(resend_in_doubt: bool) -> None:
    def preview(state: dict[str, object]) -> list[object]:
        context = MemoryContext(state, live_claims={"tok_alive"})  # type: ignore[arg-type]
        ga4 = GA4Connector(settings(None, resend_in_doubt=resend_in_doubt), context, clock=clock)
        return list(ga4.preview(item(callrail_call())))

    # Its claim is alive: a send is under way, whatever the mark's age; send waits and so does preview.
    with pytest.raises(RetryableError) as waiting:
        preview(_pending("tok_alive", "sending", minutes_ago=30))
    assert waiting.value.reason == "in_flight"
    # Its claim is dead before the request started: provably unsent, sent now (no 10-minute wait).
    assert len(preview(_pending("tok_dead", "prepared"))) == 1
    # Dead mid-request: in doubt, resent only with resend_in_doubt.
    assert len(preview(_pending("tok_dead", "sending"))) == (1 if resend_in_doubt else 0)


def test_preview_of_a_refused_or_skipped_call() -> None:
    ga4 = GA4Connector(settings(None), MemoryContext(), clock=lambda: NOW.replace(year=2025))
    [planned] = ga4.preview(item(callrail_call()))
    assert planned.note.startswith("refused before sending (too_old)")
    assert "72-hour" in planned.note
    assert planned.body["events"][0]["name"] == "phone_call"
    assert ga4.preview(item(with_attribution(callrail_call(), ga_client_id=None))) == []


def test_missing_credentials_fail_every_item_with_config() -> None:
    ga4 = GA4Connector(settings(None, credentials={}), MemoryContext(), clock=clock)
    outcome = ga4.deliver([item(callrail_call())]).outcomes["d1"]
    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "config"


def test_sandbox_mode_needs_no_credentials(ga4_url: str, recorded: SandboxState) -> None:
    ga4 = GA4Connector(settings(ga4_url, credentials={}), MemoryContext(), clock=clock)
    ga4.deliver([item(callrail_call())])
    assert [event.measurement_id for event in recorded.events()] == ["G-SANDBOX0000"]


def test_check_lists_every_problem() -> None:
    unreachable = "http://127.0.0.1:9"
    creds = {"measurement_id": "UA-1234", "api_secret": API_SECRET}
    ga4 = GA4Connector(settings(unreachable, credentials=creds, no_client_id="pseudonymous"), MemoryContext())
    result = ga4.check()

    assert not result.ok
    text = " | ".join(result.problems)
    assert "does not look like G-" in text
    assert "client_id_salt" in text
    assert "validation server unreachable" in text
    assert API_SECRET not in text


def test_describe_gives_the_limits_as_notes() -> None:
    schema = GA4Connector(settings(None), MemoryContext()).describe("phone_call")
    assert schema is not None
    assert not schema.fields["client_id"].required  # the no_client_id policy decides
    assert schema.fields["params.currency"].max_length == 3
    assert schema.fields["params.*"].max_length == 100
    assert any("25 params" in note for note in schema.notes)
    assert any("72 hours" in note for note in schema.notes)


def test_classify_data_api_errors_by_status() -> None:
    ga4 = GA4Connector(settings(None), MemoryContext())
    limited = ga4.classify(google_errors.TooManyRequests("quota"))  # type: ignore[no-untyped-call]
    denied = ga4.classify(google_errors.Forbidden("no access"))  # type: ignore[no-untyped-call]
    assert isinstance(limited, RetryableError)
    assert limited.reason == "rate_limited"
    assert isinstance(denied, PermanentError)
    assert denied.reason == "unauthorized"


@pytest.mark.parametrize(
    "name", ["page_view", "click", "scroll", "form_start", "file_download", "video_start", "video_progress"]
)
def test_automatically_collected_web_events_are_not_reserved(name: str) -> None:
    """Google's reserved list for the Measurement Protocol does not include them (limits.RESERVED_URL)."""
    assert GA4Connector.mapping_problems(name, {}) == []


def test_reserved_user_property_and_param_names_follow_googles_list() -> None:
    problems = GA4Connector.field_problems(
        "phone_call",
        ["user_properties.first_open_time", "user_properties.gtag_like", "params.firebase_conversion"],
    )
    assert [field for field, _ in problems] == [
        "user_properties.first_open_time",
        "params.firebase_conversion",
    ]
    assert all(limits.RESERVED_URL in message for _, message in problems)
