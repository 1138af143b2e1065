"""/metrics under a real two-worker gunicorn, with delivery outcomes from a separate worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from connectors.webhook.fake import create_app as webhook_sandbox
from hub.dispatch import dispatch_once
from hub.local_server import LocalServer
from hub.redis_server import free_port
from hub.runtime import Runtime, write_sandbox_urls
from hub.samples import request_from_bytes
from hub.settings import Settings
from hub.store.db import Database
from hub.supervisor import web_command
from tests.hubkit import PROJECT, PROVIDER_FIXTURES, SECRET, default_config

FAMILIES = {
    "hub_deliveries_received",
    "hub_delivery_outcomes",
    "hub_deliveries",
    "hub_oldest_due_delivery_age_seconds",
    "hub_receipts_waiting",
    "hub_destination_paused",
}


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert process.poll() is None, "the server exited"
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        f.name: [(dict(s.labels), s.value) for s in f.samples] for f in text_string_to_metric_families(text)
    }


@pytest.fixture
def env(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TEST_SECRET", SECRET)
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(default_config(), sort_keys=False))
    values = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PROMETHEUS", "DATABASE_URL"))}
    values |= {
        "HUB_CONFIG": str(config),
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "REDIS_URL": redis_url,
        "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
        "HUB_ADMIN_TOKEN": "t",
        "TEST_SECRET": SECRET,
        "HUB_LOG_FORMAT": "json",
    }
    (tmp_path / "var").mkdir()
    Database(values["DATABASE_URL"]).migrate()
    return values


def run_worker_burst(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "hub.cli", "worker", "--burst"], cwd=PROJECT, env=env, check=True, timeout=120
    )


def test_every_scrape_of_a_two_worker_web_server_has_the_same_families(env: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with LocalServer(webhook_sandbox()) as receiver:
        write_sandbox_urls(Path(env["HUB_DATA_DIR"]), {"webhook": receiver.url})
        web = subprocess.Popen(web_command("127.0.0.1", port, 2, "wsgi:create()"), cwd=PROJECT, env=env)
        try:
            wait_until_up(f"{base}/healthz", web)
            settings = Settings.from_env(env)
            runtime = Runtime.from_settings(settings, sandbox_urls={"webhook": receiver.url})
            path = PROVIDER_FIXTURES / "callrail" / "post_call_answered_web_session.json"
            request = request_from_bytes(path.name, path.read_bytes(), f"{base}/webhooks/callrail")
            signed = runtime.provider(runtime.config.sources["callrail"]).sign(
                request, SECRET, datetime.now(UTC)
            )
            answer = requests.post(signed.url, data=signed.body, headers=dict(signed.headers), timeout=10)
            assert answer.status_code < 300, answer.text
            # The dispatcher's passes, done here; the jobs run in separate `hub worker` processes.
            assert dispatch_once(runtime).receipts == 1
            run_worker_burst(env)
            assert dispatch_once(runtime).deliveries == 1
            run_worker_burst(env)
            runtime.close()

            scrapes = [families(requests.get(f"{base}/metrics", timeout=10).text) for _ in range(8)]
        finally:
            web.terminate()
            web.wait(timeout=30)
    names = [set(scrape) for scrape in scrapes]
    assert all(found == names[0] for found in names), "every scrape shows the same metric families"
    assert names[0] >= FAMILIES, FAMILIES - names[0]
    for scrape in scrapes:
        delivered = [
            v for labels, v in scrape["hub_delivery_outcomes"] if labels.get("outcome") == "delivered"
        ]
        assert delivered == [1.0], "the worker process's outcome shows on every scrape"
        by_status = {
            labels["status"]: v
            for labels, v in scrape["hub_deliveries"]
            if labels["destination"] == "webhook"
        }
        assert by_status["delivered"] == 1.0
        assert by_status["pending"] == 0.0
        assert scrape["hub_receipts_waiting"] == [
            ({"source": "callrail"}, 0.0),
            ({"source": "ctm"}, 0.0),
            ({"source": "twilio"}, 0.0),
        ]


def test_a_worker_only_machine_serves_metrics(env: dict[str, str]) -> None:
    port = free_port()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "worker",
            "--metrics-port",
            str(port),
            "--metrics-host",
            "127.0.0.1",
        ],
        cwd=PROJECT,
        env=env,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/metrics", worker)
        found = families(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert {"hub_deliveries", "hub_oldest_due_delivery_age_seconds", "hub_receipts_waiting"} <= set(found)
    ages = dict(
        (labels["destination"], value) for labels, value in found["hub_oldest_due_delivery_age_seconds"]
    )
    assert ages == {"webhook": 0.0}
