"""`hub run` with the shipped hub.yaml under load from outside, for the steady section: the process
tree, the sender of signed new calls, and what the database and the fakes say afterwards."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import func, select

from bench.ingest import PROJECT, SAMPLE, children_of
from hub.redate import redate
from hub.redis_server import free_port
from hub.samples import request_from_bytes
from hub.settings import Settings
from hub.store.db import Database
from hub.store.models import Delivery, Event, Receipt
from webhooks.base import SourceSettings
from webhooks.callrail import CallRailProvider

SECRET = "bench-steady-secret"
TERMINAL = ("delivered", "skipped", "held", "rejected", "failed")


def _template() -> str:
    # Dates moved to now: GA4 refuses events more than 72 hours old.
    text = redate(SAMPLE.read_bytes(), False).decode()
    text = re.sub(r'"resource_id":\s*"[^"]+"', '"resource_id":"__CALL_ID__"', text, count=1)
    return re.sub(r'"customer_phone_number":\s*"[^"]+"', '"customer_phone_number":"__CALLER__"', text)


@dataclass
class Sender:
    """Signed CallRail deliveries, each a new call from a new caller (the CRMs' worst case).

    The sender shares the cores with the hub, so it does as little as it can while the clock runs:
    bodies are built and signed before a timed phase, and each sending thread keeps its own
    connection object (gunicorn's sync workers close the socket after each answer; http.client
    reopens it)."""

    port: int
    template: str = field(default_factory=_template)
    provider: CallRailProvider = field(default_factory=lambda: CallRailProvider(SourceSettings("callrail")))
    sent: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)
    issued: int = 0

    def signed(self, n: int, prefix: str) -> tuple[bytes, dict[str, str]]:
        body = (
            self.template.replace("__CALL_ID__", f"CAL{prefix}{n:09d}")
            .replace("__CALLER__", f"+1415{200 + (n // 10_000) % 800:03d}{n % 10_000:04d}")
            .encode()
        )
        request = request_from_bytes("x.json", body, "http://bench/webhooks/callrail")
        signed = self.provider.sign(request, SECRET, datetime.now(UTC))
        return signed.body, dict(signed.headers)

    def prepare(self, count: int, prefix: str) -> list[tuple[bytes, dict[str, str]]]:
        """The next `count` calls, numbered on from the previous ones: every caller is new."""
        first, self.issued = self.issued, self.issued + count
        return [self.signed(n, prefix) for n in range(first, first + count)]

    def post(self, message: tuple[bytes, dict[str, str]]) -> None:
        body, headers = message
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=30
            )
        try:
            connection.request("POST", "/webhooks/callrail", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == 202
        except (OSError, http.client.HTTPException):
            connection.close()
            ok = False
        with self.lock:
            self.sent += ok
            self.errors += not ok

    def steady(self, rate: float, seconds: float, prefix: str) -> float:
        """Open loop at `rate` calls/s; returns when the last call was answered (monotonic)."""
        messages = self.prepare(int(rate * seconds), prefix)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for index, message in enumerate(messages):
                pause = started + index / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(self.post, message)
        return time.monotonic()

    def burst(self, count: int, prefix: str) -> float:
        """`count` calls as fast as the hub takes them (8 at a time); returns when the last was answered."""
        messages = self.prepare(count, prefix)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self.post, messages))
        return time.monotonic()


class HubRun:
    """`hub run` in a temp folder with the shipped hub.yaml (every destination a sandbox)."""

    def __init__(self, workers: int = 2) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hub-bench-steady-"))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "DATABASE_URL", "REDIS_URL"))}
        env.update(
            {
                "HUB_CONFIG": str(PROJECT / "hub.yaml"),
                "HUB_DATA_DIR": str(self.folder / "var"),
                "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
                "HUB_ADMIN_TOKEN": "bench",
                "HUB_SECRET_CALLRAIL": SECRET,
                "HUB_LOG_LEVEL": "WARNING",
            }
        )
        self.env = env
        self.log = (self.folder / "hub-run.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "run", "--port", str(self.port), "--workers", str(workers)],
            cwd=PROJECT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        self.settings = Settings.from_env(env)
        self.db = Database(self.settings.database_url)
        urls = json.loads((self.settings.data_dir / "sandbox-urls.json").read_text())["urls"]
        self.sandbox: dict[str, str] = dict(urls)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub run exited; see {self.folder / 'hub-run.log'}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok:
                    time.sleep(2)  # workers and dispatcher come up beside the web server
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("hub run did not start")

    def stop(self) -> None:
        self.db.dispose()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()

    def api_requests(self) -> dict[str, int]:
        hubspot = requests.get(f"{self.sandbox['hubspot']}/__fake__/stats", timeout=5).json()
        salesforce = requests.get(f"{self.sandbox['salesforce']}/__fake__/requests", timeout=5).json()
        return {"hubspot": int(hubspot["requests"]), "salesforce": int(salesforce["api_requests"])}

    def latency(self, destination: str, seconds: float) -> None:
        requests.post(f"{self.sandbox[destination]}/__fake__/latency", json={"seconds": seconds}, timeout=5)

    def unparsed(self) -> int:
        with self.db.read_session() as session:
            return int(
                session.scalar(select(func.count()).select_from(Receipt).where(Receipt.status == "received"))
                or 0
            )

    def open_work(self) -> int:
        """Receipts not yet parsed plus deliveries not yet finished."""
        with self.db.read_session() as session:
            receipts = session.scalar(
                select(func.count()).select_from(Receipt).where(Receipt.status == "received")
            )
            deliveries = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.not_in(TERMINAL))
            )
        return int(receipts or 0) + int(deliveries or 0)

    def wait_clear(self, since: float, limit_s: float = 120.0) -> float:
        """Seconds from `since` (monotonic) until nothing is open; `limit_s` when it never clears."""
        time.sleep(0.5)
        while time.monotonic() - since < limit_s:
            if self.open_work() == 0:
                return time.monotonic() - since
            time.sleep(0.25)
        return float("inf")

    def last_receipt(self) -> int:
        with self.db.read_session() as session:
            return int(session.scalar(select(func.max(Receipt.id))) or 0)

    def latencies(self, after_receipt: int) -> dict[str, list[float]]:
        """Seconds from receipt to delivered, per destination, for receipts after `after_receipt`."""
        with self.db.read_session() as session:
            rows = session.execute(
                select(Delivery.destination, Delivery.status, Delivery.finished_at, Receipt.received_at)
                .join(Event, Event.id == Delivery.event_id)
                .join(Receipt, Receipt.id == Event.receipt_id)
                .where(Receipt.id > after_receipt)
            ).all()
        result: dict[str, list[float]] = {}
        for destination, status, finished, received in rows:
            values = result.setdefault(destination, [])
            if status == "delivered" and finished is not None:
                values.append((finished - received).total_seconds())
        return result

    def statuses(self, after_receipt: int) -> dict[str, dict[str, int]]:
        with self.db.read_session() as session:
            rows = session.execute(
                select(Delivery.destination, Delivery.status, func.count())
                .join(Event, Event.id == Delivery.event_id)
                .where(Event.receipt_id > after_receipt)
                .group_by(Delivery.destination, Delivery.status)
            ).all()
        result: dict[str, dict[str, int]] = {}
        for destination, status, count in rows:
            result.setdefault(destination, {})[status] = int(count)
        return result

    def memory_mb(self) -> dict[str, float]:
        """Resident memory of `hub run` and every process under it."""
        result: dict[str, float] = {}
        for pid in _tree(self.process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
            except OSError:
                continue
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            result[f"{pid} {command.strip()}"] = rss / 1024
        return result

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far, per kind of process: the `hub run` process (which serves the
        sandbox fakes), workers, web, the rest (redis)."""
        tick = os.sysconf("SC_CLK_TCK")
        result: dict[str, float] = {}
        for pid in _tree(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            kind = (
                "hub run + fakes"
                if pid == self.process.pid
                else "workers"
                if b"worker" in command
                else "web"
                if b"gunicorn" in command
                else "other"
            )
            result[kind] = result.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        return result


def _tree(pid: int) -> Iterator[int]:
    yield pid
    for child in children_of(pid):
        yield from _tree(child)
