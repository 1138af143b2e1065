"""Console flows over the real pipeline: find a call, read its deliveries, replay, bulk retry,
issues, pause and resume, and a destination that pauses itself when its credentials are refused."""

from __future__ import annotations

from types import SimpleNamespace

import requests
from sqlalchemy import select

from hub.console.bulk import job_progress
from hub.store.models import AuditEntry, Delivery, DestinationPause, ReplayJob
from tests.console.consolekit import add_user, csrf, login, post
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"


def _deliveries(hub: Hub) -> list[SimpleNamespace]:
    with hub.runtime.db.read_session() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.created_at))
        return [SimpleNamespace(id=r.id, call_id=r.call_id, status=r.status, reason=r.reason) for r in rows]


def _admin(hub: Hub) -> None:
    add_user(hub)
    login(hub.client)


def test_a_call_is_found_by_a_differently_formatted_phone_number(hub: Hub) -> None:
    _admin(hub)
    assert hub.post_fixture("callrail", ANSWERED, recent=True).status_code == 202
    hub.drain()
    for typed in ("(470) 555-0183", "470.555.0183", "+1 470 555 0183", "14705550183"):
        page = hub.client.get("/console/calls", query_string={"q": typed}).get_data(as_text=True)
        assert "1 call<" in page, typed
        assert "+14705550183" in page
    by_account = hub.client.get(
        "/console/calls", query_string={"account": "Peachtree Plumbing Co", "since": "7d"}
    )
    assert "1 call<" in by_account.get_data(as_text=True)
    other_account = hub.client.get("/console/calls", query_string={"account": "999"})
    assert "0 calls<" in other_account.get_data(as_text=True)
    call_id = _deliveries(hub)[0].call_id
    detail = hub.client.get(f"/console/calls/{call_id}").get_data(as_text=True)
    assert 'data-destination="webhook"' in detail
    assert "delivered" in detail
    assert "Raw receipts" in detail
    assert "Merged state" in detail
    nothing = hub.client.get("/console/calls", query_string={"q": "(470) 555-0199"}).get_data(as_text=True)
    assert "No call matches" in nothing


def test_a_rejected_delivery_is_grouped_as_an_issue_and_replayed_to_delivered(hub: Hub) -> None:
    _admin(hub)
    hub.fault(400)
    hub.post_fixture("callrail", ANSWERED, recent=True)
    hub.drain()
    [delivery] = _deliveries(hub)
    assert delivery.status == "rejected"
    issues = hub.client.get("/console/issues").get_data(as_text=True)
    assert "<td>webhook</td><td>rejected</td><td>400</td>" in issues
    assert "The destination refused the record as sent" in issues
    key = "webhook|rejected|400"
    assert post(hub.client, "/console/issues/state", {"key": key, "state": "acknowledged"}).status_code == 302
    assert "state-acknowledged" in hub.client.get("/console/issues").get_data(as_text=True)
    post(hub.client, "/console/issues/state", {"key": key, "state": "resolved"})
    assert "state-resolved" in hub.client.get("/console/issues").get_data(as_text=True)
    response = post(
        hub.client, f"/console/deliveries/{delivery.id}/replay", page=f"/console/calls/{delivery.call_id}"
    )
    assert response.status_code == 302
    hub.drain()
    [delivery] = _deliveries(hub)
    assert delivery.status == "delivered"
    with hub.runtime.db.read_session() as session:
        actions = {e.action for e in session.scalars(select(AuditEntry))}
    assert {"login", "issue_state", "replay"} <= actions
    assert "issue_state" in hub.client.get("/console/audit").get_data(as_text=True)
    # The same failure again after it was resolved: the issue is open again.
    hub.fault(400)
    hub.post_fixture("callrail", "callrail/post_call_missed.json", recent=True)
    hub.drain()
    assert "state-open" in hub.client.get("/console/issues").get_data(as_text=True)


def test_retry_all_matching_shows_the_count_then_runs_a_job_with_progress(hub: Hub) -> None:
    _admin(hub)
    hub.fault(400, count=3)
    for name in (ANSWERED, "callrail/post_call_missed.json", "callrail/legacy_fields_only.json"):
        hub.post_fixture("callrail", name, recent=True)
    hub.drain()
    assert [d.status for d in _deliveries(hub)] == ["rejected"] * 3
    listing = hub.client.get("/console/deliveries", query_string={"destination": "webhook"}).get_data(
        as_text=True
    )
    assert "Retry all 3 matching" in listing
    confirm = hub.client.get("/console/deliveries/retry", query_string={"destination": "webhook"})
    assert "Retry 3 deliveries?" in confirm.get_data(as_text=True)
    # Nothing changed yet: the count comes first.
    assert [d.status for d in _deliveries(hub)] == ["rejected"] * 3
    token = csrf(hub.client, "/console/deliveries/retry?destination=webhook")
    stale = hub.client.post(
        "/console/deliveries/retry", data={"csrf_token": token, "destination": "webhook", "expected": "2"}
    )
    assert "/console/deliveries/retry" in stale.headers["Location"], "a changed count asks again"
    started = hub.client.post(
        "/console/deliveries/retry", data={"csrf_token": token, "destination": "webhook", "expected": "3"}
    )
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    queued = job_progress(hub.runtime.db, job_id)
    assert queued is not None
    assert (queued["status"], queued["done"], queued["total"]) == ("queued", 0, 3)
    assert hub.client.get(f"/console/data/jobs/{job_id}").json["total"] == 3
    hub.drain()
    progress = hub.client.get(f"/console/data/jobs/{job_id}").json
    assert progress["status"] == "finished"
    assert progress["done"] == 3
    assert [d.status for d in _deliveries(hub)] == ["delivered"] * 3


def test_a_cancelled_job_replays_nothing_more(hub: Hub) -> None:
    _admin(hub)
    hub.fault(400)
    hub.post_fixture("callrail", ANSWERED, recent=True)
    hub.drain()
    token = csrf(hub.client, "/console/deliveries/retry")
    started = hub.client.post("/console/deliveries/retry", data={"csrf_token": token, "expected": "1"})
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    assert post(hub.client, f"/console/jobs/{job_id}/cancel").status_code == 302
    hub.drain()
    with hub.runtime.db.read_session() as session:
        assert session.get(ReplayJob, job_id).status == "cancelled"  # type: ignore[union-attr]
    assert [d.status for d in _deliveries(hub)] == ["rejected"]


def test_a_paused_destination_holds_its_deliveries_and_resuming_sends_them(hub: Hub) -> None:
    _admin(hub)
    assert (
        post(hub.client, "/console/destinations/webhook/pause", page="/console/destinations").status_code
        == 302
    )
    hub.post_fixture("callrail", ANSWERED, recent=True)
    hub.drain()
    assert [d.status for d in _deliveries(hub)] == ["pending"]
    assert hub.received() == []
    assert "paused" in hub.client.get("/console/destinations").get_data(as_text=True)
    post(hub.client, "/console/destinations/webhook/resume", page="/console/destinations")
    hub.drain()
    assert [d.status for d in _deliveries(hub)] == ["delivered"]
    assert len(hub.received()) == 1
    with hub.runtime.db.read_session() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["pause", "resume"]


def test_refused_credentials_pause_the_destination_instead_of_rejecting_every_call(hub: Hub) -> None:
    _admin(hub)
    hub.fault(401, count=50)
    hub.post_fixture("callrail", ANSWERED, recent=True)
    hub.drain()
    hub.post_fixture("callrail", "callrail/post_call_missed.json", recent=True)
    hub.drain()
    statuses = [(d.status, d.reason) for d in _deliveries(hub)]
    assert statuses == [("pending", "destination_paused"), ("pending", None)]
    with hub.runtime.db.read_session() as session:
        pause = session.get(DestinationPause, "webhook")
        assert pause is not None
        assert pause.paused_by == "hub"
        assert pause.reason.startswith("credentials refused")
    page = hub.client.get("/console/destinations").get_data(as_text=True)
    assert "credentials refused" in page
    assert len(hub.received()) <= 1, "the second call was never sent to a destination refusing us"
    requests.post(f"{hub.receiver.url}/__fake__/reset", timeout=5)
    post(hub.client, "/console/destinations/webhook/resume", page="/console/destinations")
    hub.drain()
    assert [d.status for d in _deliveries(hub)] == ["delivered", "delivered"]


def test_pages_render_with_data(hub: Hub) -> None:
    _admin(hub)
    hub.post_fixture("callrail", ANSWERED, recent=True)
    hub.drain()
    call_id = _deliveries(hub)[0].call_id
    for path in (
        "/console/overview",
        "/console/overview?range=30d",
        "/console/sources",
        "/console/destinations",
        "/console/destinations/webhook/check",
        "/console/mappings",
        f"/console/mappings?call={call_id}",
        "/console/deliveries?status=delivered",
        "/console/audit",
    ):
        assert hub.client.get(path).status_code == 200, path
    data = hub.client.get("/console/data/overview?range=7d").json
    assert data["tiles"]["calls"] == 1
    assert data["calls_per_source"]["callrail"] == [1]
    assert data["delivery_outcomes"]["webhook"]["statuses"]["delivered"]
    mappings = hub.client.get(f"/console/mappings?call={call_id}").get_data(as_text=True)
    assert f"Preview for {call_id}" in mappings
    assert "(no change)" in mappings
    sources = hub.client.get("/console/sources").get_data(as_text=True)
    assert "http://localhost/webhooks/callrail" in sources
