"""A whole hub for browser tests and screenshots: the web app on a loopback port, a real
`hub worker` process (RQ worker + dispatcher), the Salesforce, HubSpot and webhook sandboxes,
real Redis and SQLite. Nothing is mocked; the browser sees what an admin would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from hub.console.users import save_user
from hub.http import create_app
from hub.local_server import LocalServer, start_sandboxes
from hub.redate import redate
from hub.runtime import Runtime, load_hub_config, write_sandbox_urls
from hub.samples import request_from_bytes
from hub.settings import Settings
from hub.store.db import Database
from tests.hubkit import ADMIN_TOKEN, PROJECT, PROVIDER_FIXTURES, SECRET

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"


def browser_config() -> dict[str, Any]:
    return {
        "version": 1,
        "sources": [
            {"id": "callrail", "provider": "callrail", "secrets": ["${TEST_SECRET}"]},
            {"id": "ctm", "provider": "ctm", "secrets": ["${TEST_SECRET}"]},
        ],
        "destinations": [
            {
                "id": "salesforce",
                "type": "salesforce",
                "sandbox": True,
                "credentials": {"username": "${TEST_UNSET_SF}"},
                "mappings": [
                    str(PROJECT / "mappings/salesforce/lead.yaml"),
                    str(PROJECT / "mappings/salesforce/task.yaml"),
                ],
            },
            {
                "id": "hubspot",
                "type": "hubspot",
                "sandbox": True,
                "credentials": {"access_token": "${TEST_UNSET_HS}"},
                "mappings": [
                    str(PROJECT / "mappings/hubspot/contact.yaml"),
                    str(PROJECT / "mappings/hubspot/call.yaml"),
                ],
            },
            {
                "id": "webhook",
                "type": "webhook",
                "sandbox": True,
                "credentials": {"url": "${TEST_UNSET_URL}"},
                "max_attempts": 2,
                "retry": {"base_s": 1, "max_s": 1},
            },
        ],
        "routes": [{"from": "*", "to": ["salesforce", "hubspot", "webhook"]}],
        "console": {
            "record_links": {
                "salesforce": {"instance_url": "https://example.my.salesforce.com"},
                "hubspot": {"portal_id": "1234567"},
            }
        },
    }


@dataclass
class LiveHub:
    url: str
    runtime: Runtime
    sandboxes: dict[str, str]

    def post_fixture(self, source: str, relative: str) -> int:
        """Post a provider fixture, re-dated to now and signed as the provider signs."""
        path = PROVIDER_FIXTURES / relative
        payload = redate(path.read_bytes(), path.suffix == ".form")
        target = f"{self.url}/webhooks/{source}"
        request = request_from_bytes(path.name, payload, target)
        provider = self.runtime.provider(self.runtime.config.sources[source])
        from datetime import UTC, datetime

        signed = provider.sign(request, SECRET, datetime.now(UTC))
        response = requests.request(
            signed.method, signed.url, data=signed.body, headers=dict(signed.headers), timeout=10
        )
        return response.status_code

    def webhook_fault(self, status: int, count: int = 1) -> None:
        requests.post(
            f"{self.sandboxes['webhook']}/__fake__/faults", json={"status": status, "count": count}, timeout=5
        )

    def statuses(self) -> list[tuple[str, str]]:
        """(destination, status) of every delivery, oldest first."""
        from sqlalchemy import select

        from hub.store.models import Delivery

        with self.runtime.db.read_session() as session:
            rows = session.execute(
                select(Delivery.destination, Delivery.status).order_by(Delivery.created_at)
            ).all()
        return [(d, s) for d, s in rows]

    def wait_until(self, what: str, predicate: Callable[[], bool], limit_s: float = 60.0) -> None:
        """Wait (bounded) for the worker to get somewhere; the tests assert on what follows."""
        deadline = time.monotonic() + limit_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker never got to: {what} (deliveries: {self.statuses()})")
            time.sleep(0.2)

    def settled(self, count: int) -> bool:
        """`count` deliveries exist and none is still on its way."""
        rows = self.statuses()
        return len(rows) == count and all(s not in ("pending", "queued", "sending") for _, s in rows)

    def add_user(self, name: str, role: str = "admin") -> None:
        save_user(self.runtime.db, name, role, PASSWORD, actor="test")


@contextmanager
def live_hub(tmp_path: Path, redis_url: str) -> Iterator[LiveHub]:
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(browser_config(), sort_keys=False))
    data_dir = tmp_path / "var"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_CONFIG": str(config_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "REDIS_URL": redis_url,
        "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "HUB_LOG_FORMAT": "text",
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
        "TEST_SECRET": SECRET,
    }
    previous = os.environ.get("TEST_SECRET")
    os.environ["TEST_SECRET"] = SECRET
    settings = Settings.from_env(env)
    Database(settings.database_url).migrate()
    fakes, urls = start_sandboxes(load_hub_config(settings).destinations.values())
    # The worker process finds the sandboxes the way `hub run`'s workers do.
    write_sandbox_urls(data_dir, urls)
    runtime = Runtime.from_settings(settings, sandbox_urls=urls)
    web = LocalServer(create_app(runtime)).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker"], env=env, cwd=PROJECT, start_new_session=True
    )
    try:
        yield LiveHub(web.url, runtime, urls)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        web.stop()
        for fake in fakes:
            fake.stop()
        runtime.close()
        if previous is None:
            os.environ.pop("TEST_SECRET", None)
        else:
            os.environ["TEST_SECRET"] = previous
