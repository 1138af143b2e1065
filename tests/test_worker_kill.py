"""A `hub worker` SIGKILLed mid-batch: what it held is re-driven after its lease, delivered once."""

from __future__ import annotations

import json
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

from hub.runtime import write_sandbox_urls
from hub.store.models import Attempt, Call, Delivery
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
        #: Every body received, in order (GA4 requests carry no delivery id).
        self.bodies: list[bytes] = []
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
                    receiver.bodies.append(body)
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
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def sources_sent(self) -> list[str]:
        """The hub source of every GA4 event received (what `params.hub_source` names)."""
        with self.lock:
            bodies = list(self.bodies)
        return [str(event["params"]["hub_source"]) for body in bodies for event in json.loads(body)["events"]]

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


def worker_env(hub: Any, tmp_path: Path, redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PROMETHEUS"))},
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_CONFIG": str(hub.settings.config_path),
        "HUB_MAPPINGS_DIR": str(hub.settings.mappings_dir),
        "HUB_LOG_FORMAT": "text",
        "HUB_LEASE_S": str(LEASE_S),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TEST_SECRET": SECRET,
        **extra,
    }


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
        env = worker_env(hub, tmp_path, redis_url, database_url, KILL_TEST_HOOK_URL=receiver.url)
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


def test_sigkill_mid_ga4_batch_settles_at_once_and_sends_nothing_twice(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    """GA4 cannot deduplicate: what the killed worker may have sent ends `in_doubt`, what it had
    not sent yet goes out under the new claim, both as soon as the lease lapses (not after the
    10-minute window a mark without a claim would need)."""
    config = default_config(webhook=False)
    config["destinations"] = [
        {
            "id": "ga4",
            "type": "ga4",
            "credentials": {"measurement_id": "${TEST_UNSET_GA4}"},
            "sandbox": True,
            "max_attempts": 5,
            "mappings": [str(PROJECT / "mappings" / "ga4" / "phone_call.yaml")],
        }
    ]
    config["routes"] = [{"from": "*", "to": ["ga4"]}]
    receiver = Receiver()  # stands in for /mp/collect, holding requests like the webhook test
    with receiver.running(), make_hub(tmp_path, redis_url, database_url, config) as hub:
        hub.settings.data_dir.mkdir(parents=True, exist_ok=True)
        write_sandbox_urls(hub.settings.data_dir, {"ga4": receiver.base_url})
        hub.restart(sandbox_urls={"ga4": receiver.base_url})
        assert hub.post_fixture("callrail", CALLS[0], recent=True).status_code == 202
        assert (
            hub.post_fixture("ctm", "ctm/call_end_answered_web_session.json", recent=True).status_code == 202
        )
        env = worker_env(hub, tmp_path, redis_url, database_url)
        log = tmp_path / "workers.log"
        first = start_worker(env, log)
        try:
            wait_until(lambda: receiver.seen() >= 1, 60, "the first GA4 request")
            time.sleep(0.3)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        with receiver.lock:
            receiver.holding.clear()
        receiver.release.set()
        sent_before_kill = receiver.sources_sent()
        assert sent_before_kill, "the killed worker's request reached the endpoint"
        killed_at = time.monotonic()
        second = start_worker(env, log)
        try:

            def settled() -> bool:
                with hub.runtime.db.read_session() as session:
                    statuses = set(session.scalars(select(Delivery.status)))
                return bool(statuses) and statuses <= {"delivered", "skipped"}

            # The old 10-minute window would keep them `in_flight` far past this bound.
            wait_until(settled, 60, f"every GA4 delivery to settle (see {log})")
            recovery_s = time.monotonic() - killed_at
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(20)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait()
        with hub.runtime.db.read_session() as session:
            outcomes = {
                source: (status, reason)
                for source, status, reason in session.execute(
                    select(Call.source, Delivery.status, Delivery.reason).join(
                        Call, Call.id == Delivery.call_id
                    )
                )
            }
    print(f"GA4 recovery after SIGKILL: {recovery_s:.1f} s (lease {LEASE_S} s)")
    sent = Counter(receiver.sources_sent())
    assert set(outcomes) == {"callrail", "ctm"}
    assert all(count == 1 for count in sent.values()), f"an event was sent twice: {sent}"
    for source, outcome in outcomes.items():
        if source in sent_before_kill:
            assert outcome == ("skipped", "in_doubt"), (source, outcome)
        else:
            assert outcome[0] == "delivered", (source, outcome)
            assert sent[source] == 1
