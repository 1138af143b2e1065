"""`hub run` as a user runs it: serves, lands sample calls at the sandbox, leaves no process on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from hub.redis_server import free_port

PROJECT = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def test_hub_run_end_to_end_and_clean_shutdown(tmp_path: Path) -> None:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUB_", "REDIS_URL", "DATABASE_URL", "PROMETHEUS"))
    }
    env.update({"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_LOG_FORMAT": "text"})
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run", "--port", str(port), "--workers", "1", "--web-workers", "1"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: requests.get(f"{base}/readyz", timeout=2).status_code == 200, 60, "the hub to be ready"
        )
        sent = subprocess.run(
            # No --url: it finds the running hub (and its generated secrets) from the data directory.
            [sys.executable, "-m", "hub.cli", "send-samples"],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "HTTP 401" not in sent.stdout
        wrong = subprocess.run(
            [sys.executable, "-m", "hub.cli", "send-samples", "--source", "callrail", "--url", base],
            cwd=PROJECT,
            env=env | {"HUB_SECRET_CALLRAIL": "not-the-hubs"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode == 1
        assert "HTTP 401 bad_signature" in wrong.stdout, wrong.stdout
        assert "set HUB_SECRET_CALLRAIL as the hub has it" in wrong.stdout
        import json

        token = json.loads((tmp_path / "var" / "generated-secrets.json").read_text())["admin_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def all_delivered():  # type: ignore[no-untyped-def]
            calls = requests.get(f"{base}/api/events?limit=100", headers=headers, timeout=5).json()["items"]
            states = [c["destinations"].get("webhook") for c in calls]
            return calls if calls and all(s == "delivered" for s in states) else None

        calls = wait_for(all_delivered, 60, "every sample call to be delivered")
        assert {c["source"] for c in calls} >= {"callrail", "ctm", "twilio"}
        assert requests.get(f"{base}/api/events", timeout=5).status_code == 401
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert "hub_deliveries_received_total" in metrics
    finally:
        hub.send_signal(signal.SIGINT)
        output = hub.communicate(timeout=60)[0].decode(errors="replace")
    assert "SANDBOX" in output, output
    assert f"{base}/webhooks/callrail" in output
    assert "Development mode" in output, "the banner says the fakes are in use"
    assert not list((tmp_path / "var" / "metrics").glob("*/*.db")), "per-run metrics files are removed"
    assert not (tmp_path / "var" / "hub-run.json").exists(), "the published URL is withdrawn"
    time.sleep(0.5)
    try:
        os.killpg(hub.pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("processes of hub run are still alive after Ctrl-C")
