"""Through the whole hub: what is not a call is kept as ignored; a partly unreadable call is delivered with warnings."""

from __future__ import annotations

import json

from tests.hubkit import Hub

FORM = "callrail/published/capture_form_submission.json"
MISSED = "callrail/post_call_missed.json"


def test_form_submission_is_ignored_with_its_reason_and_never_delivered(hub: Hub) -> None:
    assert hub.post_fixture("callrail", FORM).status_code == 202
    hub.drain()
    assert hub.api("/events").json["total"] == 0
    assert hub.received() == []
    ignored = hub.api("/receipts?status=ignored").json
    assert ignored["total"] == 1
    receipt = hub.api(f"/receipts/{ignored['items'][0]['id']}").json
    assert receipt["status"] == "ignored"
    assert receipt["error_reason"] == "not_a_call"
    assert "form submission" in receipt["error"]
    # Kept and replayable by id (after a provider learns something new), never in a bulk replay.
    assert hub.api("/receipts/replay", method="POST", json={}).json["replayed"] == 0
    assert hub.api(f"/receipts/{receipt['id']}/replay", method="POST").status_code == 202
    assert hub.api(f"/receipts/{receipt['id']}").json["status"] == "received"
    hub.drain()
    assert hub.api(f"/receipts/{receipt['id']}").json["status"] == "ignored"


def test_unreadable_start_time_delivers_the_call_with_a_warning_in_the_api(hub: Hub) -> None:
    def unreadable_start(payload: bytes) -> bytes:
        data = json.loads(payload)
        data["start_time"] = "the day before yesterday"
        data["datetime"] = ""
        return json.dumps(data).encode()

    assert hub.post_fixture("callrail", MISSED, edit=unreadable_start).status_code == 202
    hub.drain()
    calls = hub.api("/events").json
    assert calls["total"] == 1
    detail = hub.api(f"/events/{calls['items'][0]['id']}").json
    (version,) = detail["versions"]
    assert [w.split(":")[0] for w in version["event"]["warnings"]] == ["start_time"]
    assert detail["state"]["warnings"] == version["event"]["warnings"]
    sent = hub.received()
    assert len(sent) == 1
    assert sent[0]["json"]["call"]["caller"]["number"] is not None
