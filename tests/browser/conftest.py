"""Browser tests drive Debian's Chromium (/usr/bin/chromium) headless with Playwright's Python
API; no browser is ever downloaded. Under CI=true a missing Chromium fails instead of skipping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import CHROMIUM, LiveHub, live_hub


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (scripts/test.sh installs Debian's chromium with apt when root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # A worker process starts and a dispatcher pass runs before a call shows up: assertions
    # wait for what the page shows, never for a fixed time.
    expect.set_options(timeout=30_000)

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield instance
        instance.close()


@pytest.fixture
def live(tmp_path: Path, redis_url: str) -> Iterator[LiveHub]:
    with live_hub(tmp_path, redis_url) as hub:
        yield hub


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(30_000)
    instance = context.new_page()
    yield instance
    context.close()
