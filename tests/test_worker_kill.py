"""A `hub worker` SIGKILLed mid-batch: what it held is re-driven after its lease, delivered once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from hub.store.models import Attempt, Delivery
from tests.hubkit import PROJECT, SECRET, default_config, make_hub

CALLS = (
    "callrail/post_call_answered_web_session.json",
    "callrail/post_call_missed.json",
    "callrail/post_call_voicemail.json",
)
LEASE_S = 2


class Receiver:
    """An endpoint that keeps what it receives by delivery id (as a receiver that dedupes on
    X-Callhub-Delivery does) and, while `holding`, does not answer."""

    def __init__(self) -> None:
        self.posts: Counter[str] = Counter()
        self.stored: dict[str, bytes] = {}
        self.holding = threading.Event()
        self.holding.set()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                delivery_id = self.headers.get("X-Callhub-Delivery", "")
                with receiver.lock:
                    receiver.posts[delivery_id] += 1
                    receiver.stored.setdefault(delivery_id, body)
                    held = receiver.holding.is_set()
                if held:
                    receiver.release.wait(60)
                    return  # the sender is gone by now: no answer
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None  # a sender killed mid-request

        self.server = Server(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def seen(self) -> int:
        with self.lock:
            return sum(self.posts.values())

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()


def wait_until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> list[int]:
    """Child processes of `pid` (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # The worker writes to its own copy of the file descriptor; ours is closed once it started.
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker"],
            env=env,
            cwd=PROJECT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_sigkill_mid_batch_every_call_delivered_once(
    tmp_path: Path, redis_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = default_config()
    config["destinations"][0]["credentials"] = {"url": "${KILL_TEST_HOOK_URL}"}
    config["destinations"][0]["sandbox"] = False
    config["destinations"][0]["max_attempts"] = 5
    receiver = Receiver()
    monkeypatch.setenv("KILL_TEST_HOOK_URL", receiver.url)  # the hub in this process reads it too
    with receiver.running(), make_hub(tmp_path, redis_url, database_url, config) as hub:
        for fixture in CALLS:
            assert hub.post_fixture("callrail", fixture).status_code == 202
        assert hub.post_fixture("ctm", "ctm/call_end_answered_web_session.json").status_code == 202
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PROMETHEUS"))},
            "HUB_DATA_DIR": str(tmp_path / "var"),
            "HUB_CONFIG": str(hub.settings.config_path),
            "HUB_MAPPINGS_DIR": str(hub.settings.mappings_dir),
            "HUB_LOG_FORMAT": "text",
            "HUB_LEASE_S": str(LEASE_S),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "TEST_SECRET": SECRET,
            "KILL_TEST_HOOK_URL": receiver.url,
        }
        log = tmp_path / "workers.log"
        first = start_worker(env, log)
        try:
            # The worker parses, then sends its batch; the receiver holds every request.
            wait_until(lambda: receiver.seen() >= 1, 60, "the first send")
            # A worker is one process: no RQ scheduler forked beside it, none holding a lock.
            assert children(first.pid) == [], "the worker forked no RQ scheduler"
            assert not redis.Redis.from_url(redis_url).keys("rq:scheduler-lock:*")
            time.sleep(0.3)  # let the rest of the batch's concurrent sends start too
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        with receiver.lock:
            in_flight_at_kill = set(receiver.posts)
            receiver.holding.clear()
        receiver.release.set()
        with hub.runtime.db.read_session() as session:
            statuses = Counter(session.scalars(select(Delivery.status)))
        assert statuses["sending"] >= 1, f"the worker died mid-batch: {statuses}"
        killed_at = time.monotonic()
        second = start_worker(env, log)
        try:

            def all_delivered() -> bool:
                with hub.runtime.db.read_session() as session:
                    return set(session.scalars(select(Delivery.status))) == {"delivered"}

            wait_until(all_delivered, 90, f"every delivery to be delivered (see {log})")
            recovery_s = time.monotonic() - killed_at
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(20)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
        with hub.runtime.db.read_session() as session:
            rows = {row.id: (row.attempts, row.status) for row in session.scalars(select(Delivery))}
            outcomes = Counter(
                (delivery_id, outcome)
                for delivery_id, outcome in session.execute(select(Attempt.delivery_id, Attempt.outcome))
            )
    print(f"recovery after SIGKILL: {recovery_s:.1f} s (lease {LEASE_S} s)")
    assert len(rows) == 4
    assert set(receiver.stored) == set(rows), "every call reached the destination, none lost"
    assert all(outcomes[(delivery_id, "delivered")] == 1 for delivery_id in rows), "recorded delivered once"
    for delivery_id in rows:
        # Sent again only if its send may have reached the receiver before the kill; the receiver
        # keeps one copy per delivery id.
        assert receiver.posts[delivery_id] == (2 if delivery_id in in_flight_at_kill else 1)
        assert rows[delivery_id][0] <= 2
