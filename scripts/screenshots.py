"""Screenshots of the console's main pages into docs/console/ (run by hand, output committed).

Starts a whole hub exactly as the browser tests do (web app, a `hub worker`, the Salesforce,
HubSpot and webhook sandboxes, a private Redis), posts the bundled provider fixtures with some
webhook failures, spreads the calls over the last week so the charts have days to show, logs in
with Chromium and saves one PNG per page.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from sqlalchemy import select  # noqa: E402

from hub.redis_server import RedisServer, free_port  # noqa: E402
from hub.store.models import Call, Delivery  # noqa: E402
from tests.browser.harness import CHROMIUM, PASSWORD, LiveHub, live_hub  # noqa: E402

OUT = ROOT / "docs" / "console"
FIXTURES = [
    ("callrail", "callrail/post_call_answered_web_session.json"),
    ("callrail", "callrail/post_call_missed.json"),
    ("callrail", "callrail/post_call_voicemail.json"),
    ("callrail", "callrail/post_call_offline_source.json"),
    ("callrail", "callrail/post_call_uk_caller_utm_in_landing_page.json"),
    ("callrail", "callrail/legacy_fields_only.json"),
    ("ctm", "ctm/call_end_answered_web_session.json"),
    ("ctm", "ctm/call_end_missed.json"),
    ("ctm", "ctm/call_end_voicemail.json"),
    ("ctm", "ctm/call_end_ga4_utmz_international.json"),
    ("ctm", "ctm/call_end_outbound_busy.json"),
]


def spread_over_week(live: LiveHub) -> None:
    """Demo data only: move calls (and their deliveries) back 0-6 days so the charts show a week."""
    with live.runtime.db.session() as session:
        calls = session.scalars(select(Call).order_by(Call.id)).all()
        for index, call in enumerate(calls):
            shift = timedelta(days=index % 7)
            call.first_event_at -= shift
            for delivery in session.scalars(select(Delivery).where(Delivery.call_id == call.id)):
                delivery.created_at -= shift


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hub-screens-") as tmp:
        redis = RedisServer(Path(tmp) / "redis", free_port()).start()
        try:
            with live_hub(Path(tmp), redis.url) as live:
                live.add_user("ada")
                live.webhook_fault(400, count=3)
                for source, fixture in FIXTURES:
                    live.post_fixture(source, fixture)
                live.wait_until("every call settled", lambda: live.settled(len(FIXTURES) * 3), 120)
                spread_over_week(live)
                shoot(live)
        finally:
            redis.stop()
    return 0


def shoot(live: LiveHub) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        expect.set_options(timeout=30_000)
        page.goto(f"{live.url}/console/login")
        page.screenshot(path=str(OUT / "login.png"))
        page.get_by_label("User").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#charts[data-ready='1']")).to_have_count(1)
        page.screenshot(path=str(OUT / "overview.png"), full_page=True)
        page.goto(f"{live.url}/console/calls")
        page.screenshot(path=str(OUT / "calls.png"), full_page=True)
        page.goto(f"{live.url}/console/calls?q=(470) 555-0183")
        page.locator("table.calls tbody tr a").first.click()
        page.screenshot(path=str(OUT / "call.png"), full_page=True)
        for name, path in [
            ("deliveries", "/console/deliveries?status=rejected"),
            ("retry", "/console/deliveries/retry?status=rejected"),
            ("issues", "/console/issues"),
            ("sources", "/console/sources"),
            ("destinations", "/console/destinations"),
            ("audit", "/console/audit"),
        ]:
            page.goto(f"{live.url}{path}")
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
