"""A captured signed delivery re-posted with unsigned changes is a duplicate, never a new delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hub.samples import request_from_bytes
from tests.hubkit import PROVIDER_FIXTURES, SECRET, Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
CTM_END = "ctm/call_end_answered_web_session.json"


def _capture(hub: Hub, source: str, relative: str) -> tuple[bytes, dict[str, str]]:
    path = PROVIDER_FIXTURES / relative
    request = request_from_bytes(path.name, path.read_bytes(), f"http://localhost/webhooks/{source}")
    provider = hub.runtime.provider(hub.runtime.config.sources[source])
    signed = provider.sign(request, SECRET, datetime.now(UTC))
    return signed.body, dict(signed.headers)


def test_callrail_query_additions_are_duplicates_and_never_change_the_kind(hub: Hub) -> None:
    body, headers = _capture(hub, "callrail", ANSWERED)
    first = hub.client.post("/webhooks/callrail", data=body, headers=headers)
    assert first.status_code == 202
    for query in ("?a=1", "?a=2", "?event=pre_call", "?event=call_modified&callernum=%2B15550100"):
        again = hub.client.post(f"/webhooks/callrail{query}", data=body, headers=headers)
        assert again.status_code == 200, query
        assert again.json == {"status": "duplicate", "receipt_id": first.json["receipt_id"]}
    hub.drain()
    assert len(hub.api("/receipts").json["items"]) == 1
    calls = hub.api("/events").json["items"]
    assert [c["kind"] for c in calls] == ["call.completed"]
    assert len(hub.received()) == 1, "the destination got the call once"


def test_a_query_the_source_url_does_not_configure_is_not_read(hub: Hub) -> None:
    """CallRail's legacy query copy (and anything added to it) never reaches the parser; the
    configured `event` does."""
    body, headers = _capture(hub, "callrail", ANSWERED)
    response = hub.client.post(
        "/webhooks/callrail?event=pre_call&changes=tags&call_type=in_progress", data=body, headers=headers
    )
    assert response.status_code == 202
    hub.drain()
    assert [c["kind"] for c in hub.api("/events").json["items"]] == ["call.started"]
    stored = hub.runtime.provider(hub.runtime.config.sources["callrail"])
    request = request_from_bytes("x.json", body, "http://localhost/webhooks/callrail?event=pre_call&a=1")
    assert stored.parse_view(request).url == "http://localhost/webhooks/callrail?event=pre_call"


def test_ctm_replay_inside_the_tolerance_counts_once(hub: Hub) -> None:
    body, headers = _capture(hub, "ctm", CTM_END)
    first = hub.client.post("/webhooks/ctm?event=end", data=body, headers=headers)
    assert first.status_code == 202
    for query in ("?event=end", "?event=start", "?event=update&x=1", ""):
        again = hub.client.post(f"/webhooks/ctm{query}", data=body, headers=headers)
        assert again.status_code == 200, query
        assert again.json["status"] == "duplicate"
    hub.drain()
    assert [c["kind"] for c in hub.api("/events").json["items"]] == ["call.completed"]
    assert len(hub.received()) == 1


def test_twilio_signs_its_query_so_a_changed_query_is_refused(hub: Hub, tmp_path: Path) -> None:
    path = PROVIDER_FIXTURES / "twilio"
    fixture = sorted(p for p in path.iterdir() if p.suffix == ".form")[0]
    request = request_from_bytes(fixture.name, fixture.read_bytes(), "http://localhost/webhooks/twilio")
    provider = hub.runtime.provider(hub.runtime.config.sources["twilio"])
    signed = provider.sign(request, SECRET, datetime.now(UTC))
    assert (
        hub.client.post("/webhooks/twilio", data=signed.body, headers=dict(signed.headers)).status_code == 202
    )
    mutated = hub.client.post("/webhooks/twilio?a=1", data=signed.body, headers=dict(signed.headers))
    assert mutated.status_code == 401
