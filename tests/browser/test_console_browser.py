"""The console in a real browser (Chromium via Playwright) against a running hub and worker."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.harness import PASSWORD, LiveHub

ANSWERED = "callrail/post_call_answered_web_session.json"
PAGES = ("overview", "calls", "deliveries", "issues", "sources", "destinations", "mappings", "audit")


def log_in(page: Any, live: LiveHub, name: str = "ada") -> None:
    page.goto(f"{live.url}/console/login")
    page.get_by_label("User").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def delivery_row(page: Any, destination: str) -> Any:
    return page.locator(f'tr.delivery[data-destination="{destination}"]')


def test_find_a_call_by_another_phone_format_open_it_and_replay_a_failure(page: Any, live: LiveHub) -> None:
    live.add_user("ada")
    live.webhook_fault(400)
    assert live.post_fixture("callrail", ANSWERED) == 202
    live.wait_until("the call delivered or rejected everywhere", lambda: live.settled(3))
    log_in(page, live)
    page.get_by_role("link", name="Calls", exact=True).click()
    # The provider sent +14705550183; people type it the way they read it.
    page.get_by_label("Search").fill("(470) 555-0183")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("p.count")).to_have_text("1 call")
    page.locator("table.calls tbody tr a").first.click()
    expect(page.get_by_role("heading", name=re.compile(r"Call from \+14705550183"))).to_be_visible()
    for destination in ("salesforce", "hubspot", "webhook"):
        expect(delivery_row(page, destination)).to_have_count(1)
    expect(delivery_row(page, "salesforce").locator(".delivery-status")).to_have_text("delivered")
    expect(delivery_row(page, "hubspot").locator(".delivery-status")).to_have_text("delivered")
    expect(delivery_row(page, "webhook").locator(".delivery-status")).to_have_text("rejected")
    delivery_row(page, "webhook").get_by_role("button", name="Replay").click()
    expect(page.locator(".flash.ok")).to_contain_text("queued again")
    expect(delivery_row(page, "webhook").locator(".delivery-status")).to_have_text("delivered")
    # The mappings page previews this call and compares it with what was last sent.
    call_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{live.url}/console/mappings?call={call_id}")
    salesforce = page.locator("section.mapping", has=page.get_by_role("heading", name="salesforce"))
    expect(salesforce).to_contain_text("valid")
    expect(salesforce).to_contain_text("Preview for " + call_id)
    expect(salesforce).to_contain_text("(no change)")


def test_bulk_retry_shows_the_count_first_and_progress_after(page: Any, live: LiveHub) -> None:
    live.add_user("ada")
    live.webhook_fault(400, count=3)
    for name in ("post_call_answered_web_session", "post_call_missed", "legacy_fields_only"):
        assert live.post_fixture("callrail", f"callrail/{name}.json") == 202
    live.wait_until("three calls at three destinations", lambda: live.settled(9))
    log_in(page, live)
    page.goto(f"{live.url}/console/deliveries?destination=webhook&status=rejected")
    retry = page.locator("#retry-all")
    expect(retry).to_have_text("Retry all 3 matching")
    retry.click()
    expect(page.get_by_role("heading", name="Retry 3 deliveries?")).to_be_visible()
    page.get_by_role("button", name="Yes, retry 3").click()
    expect(page.get_by_role("heading", name="Retrying 3 deliveries")).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("finished")
    expect(page.locator("#job-done")).to_have_text("3")
    live.wait_until("the three sent again", lambda: live.settled(9))
    page.goto(f"{live.url}/console/deliveries?destination=webhook&status=delivered")
    expect(page.locator("p.count")).to_contain_text("3 deliveries")


def test_pausing_a_destination_holds_its_deliveries_and_resuming_sends_them(page: Any, live: LiveHub) -> None:
    live.add_user("ada")
    log_in(page, live)
    page.goto(f"{live.url}/console/destinations")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#destination-webhook").get_by_role("button", name="Pause").click()
    expect(page.locator("#destination-webhook .health")).to_contain_text("paused")
    assert live.post_fixture("callrail", ANSWERED) == 202
    live.wait_until("the call's deliveries created", lambda: len(live.statuses()) == 3)
    page.goto(f"{live.url}/console/calls?q=4705550183")
    page.locator("table.calls tbody tr a").first.click()
    # Salesforce and HubSpot are delivered by the same dispatcher passes that leave webhook alone.
    expect(delivery_row(page, "salesforce").locator(".delivery-status")).to_have_text("delivered")
    expect(delivery_row(page, "hubspot").locator(".delivery-status")).to_have_text("delivered")
    expect(delivery_row(page, "webhook").locator(".delivery-status")).to_have_text("pending")
    call_url = page.url
    page.goto(f"{live.url}/console/destinations")
    page.locator("#destination-webhook").get_by_role("button", name="Resume").click()
    expect(page.locator("#destination-webhook .health")).to_contain_text("ok")
    page.goto(call_url)
    expect(delivery_row(page, "webhook").locator(".delivery-status")).to_have_text("delivered")
    page.goto(f"{live.url}/console/audit")
    expect(page.locator("table.audit")).to_contain_text("pause")
    expect(page.locator("table.audit")).to_contain_text("resume")


def test_every_page_refuses_an_anonymous_visitor(page: Any, live: LiveHub) -> None:
    for name in PAGES:
        page.goto(f"{live.url}/console/{name if name != 'audit' else 'audit'}")
        expect(page).to_have_url(re.compile(r"/console/login"))
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
    response = page.request.get(f"{live.url}/console/data/overview")
    assert response.status == 401


def test_a_viewer_sees_everything_and_can_change_nothing(page: Any, live: LiveHub) -> None:
    live.add_user("val", role="viewer")
    live.webhook_fault(400)
    assert live.post_fixture("callrail", ANSWERED) == 202
    live.wait_until("the call delivered or rejected everywhere", lambda: live.settled(3))
    log_in(page, live, "val")
    for name in PAGES:
        page.goto(f"{live.url}/console/{name}")
        expect(page.locator("nav.top .role")).to_have_text("viewer")
    # Each chart clicks through to the rows behind it: the calls of that source on that day.
    page.goto(f"{live.url}/console/overview")
    expect(page.locator("#charts[data-ready='1']")).to_have_count(1)
    x, y = page.evaluate(
        """() => {
            const canvas = document.getElementById('chart-sources');
            const bar = window.Chart.getChart(canvas).getDatasetMeta(0).data[0];
            const box = canvas.getBoundingClientRect();
            return [box.left + bar.x, box.top + (bar.y + bar.base) / 2];
        }"""
    )
    page.mouse.click(x, y)
    expect(page).to_have_url(re.compile(r"/console/calls\?source=callrail&since=\d{4}-\d\d-\d\d&until="))
    expect(page.locator("p.count")).to_have_text("1 call")
    page.goto(f"{live.url}/console/destinations")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    page.goto(f"{live.url}/console/calls?q=470-555-0183")
    page.locator("table.calls tbody tr a").first.click()
    expect(delivery_row(page, "webhook").locator(".delivery-status")).to_have_text("rejected")
    expect(page.get_by_role("button", name="Replay")).to_have_count(0)
    # Even a hand-made request with the session's CSRF token is refused.
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('meta[name=csrf-token]').content;
            const r = await fetch('/console/destinations/webhook/pause', {method: 'POST',
                headers: {'X-CSRF-Token': token}});
            return r.status;
        }"""
    )
    assert status == 403
