"""A real hub under faults: gunicorn, `hub worker` processes, redis-server with AOF, the
destination fakes, and a ledger counted from the fakes' own stores.

Every scenario posts signed CallRail deliveries (each call: a post-call, and for a third of the
calls a later call-modified), injects its fault, waits for the hub to settle, then writes its
ledger to var/chaos/<scenario>.json before asserting on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests
import yaml
from rq import Worker
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from connectors import registry
from hub.local_server import LocalServer
from hub.redis_server import RedisServer, free_port
from hub.runtime import write_sandbox_urls
from hub.store.db import Database
from hub.store.models import Delivery, Receipt
from hub.supervisor import web_command
from webhooks.base import Headers, InboundRequest, SourceSettings
from webhooks.callrail import CallRailProvider

PROJECT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT / "tests" / "fixtures" / "providers" / "callrail"
#: Full runs (`make chaos`) write the published figures; smoke runs in `make test` beside them.
LEDGER_DIR = PROJECT / "var" / "chaos" / ("" if os.environ.get("HUB_CHAOS") == "1" else "smoke")
SECRET = "chaos-signing-secret"
ADMIN_TOKEN = "chaos-admin-token"
AREAS = ("470", "404", "678", "770", "212", "312", "415", "617", "303", "206")
FINAL = ("delivered", "skipped")


# --- the calls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallPlan:
    """One call: its provider id, caller phone and the deliveries CallRail would send for it."""

    call_id: str
    phone: str
    bodies: tuple[bytes, ...]


def plan_calls(count: int, *, updated_every: int = 3, prefix: str = "CALCHAOS") -> list[CallPlan]:
    post = (FIXTURES / "post_call_answered_web_session.json").read_bytes()
    modified = (FIXTURES / "call_modified_tags_value_lead_status.json").read_bytes()
    plans = []
    for n in range(count):
        call_id = f"{prefix}{n:05d}"
        phone = f"+1{AREAS[n // 100 % len(AREAS)]}55501{n % 100:02d}"

        def personal(body: bytes, call_id: str = call_id, phone: str = phone) -> bytes:
            body = re.sub(rb'"resource_id":"[^"]+"', f'"resource_id":"{call_id}"'.encode(), body)
            return body.replace(b"+14705550183", phone.encode())

        bodies = (personal(post),) + ((personal(modified),) if n % updated_every == 0 else ())
        plans.append(CallPlan(call_id, phone, bodies))
    return plans


def signed_headers(body: bytes) -> dict[str, str]:
    provider = CallRailProvider(SourceSettings("callrail"))
    request = InboundRequest(
        "POST", "http://hub/webhooks/callrail", Headers({"Content-Type": "application/json"}), body
    )
    return dict(provider.sign(request, SECRET, datetime.now(UTC)).headers)


# --- the ledger --------------------------------------------------------------------------------


@dataclass
class Ledger:
    scenario: str
    calls: int = 0
    deliveries_sent: int = 0
    posts: int = 0
    answered_2xx: int = 0
    answered_5xx: int = 0
    unanswered: int = 0
    max_answer_s: float = 0.0
    receipts_stored: int = 0
    #: destination -> {"delivered": calls that reached it, "lost": calls that did not,
    #: "duplicates": records beyond one per call or caller, "records": what the fake holds}
    destinations: dict[str, dict[str, int]] = field(default_factory=dict)
    deliveries_not_final: int = 0
    recovery_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return max((d["lost"] for d in self.destinations.values()), default=0)

    @property
    def duplicates(self) -> int:
        return sum(d["duplicates"] for d in self.destinations.values())

    def write(self) -> Path:
        LEDGER_DIR.mkdir(parents=True, exist_ok=True)
        path = LEDGER_DIR / f"{self.scenario}.json"
        data = asdict(self) | {"lost": self.lost, "duplicates": self.duplicates}
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


# --- the hub -----------------------------------------------------------------------------------


def _config(
    destinations: Sequence[str], retry_base_s: float, max_attempts: int, webhook_rate: int | None
) -> dict[str, Any]:
    described: dict[str, dict[str, Any]] = {
        "webhook": {"id": "webhook", "type": "webhook", "credentials": {"url": "${CHAOS_UNSET}"}},
        "salesforce": {
            "id": "salesforce",
            "type": "salesforce",
            "credentials": {"username": "${CHAOS_UNSET}"},
            "mappings": [
                str(PROJECT / "mappings/salesforce/lead.yaml"),
                str(PROJECT / "mappings/salesforce/task.yaml"),
            ],
            "options": {"on_multiple_matches": "most_recent"},
        },
        "hubspot": {
            "id": "hubspot",
            "type": "hubspot",
            "credentials": {"access_token": "${CHAOS_UNSET}"},
            "mappings": [
                str(PROJECT / "mappings/hubspot/contact.yaml"),
                str(PROJECT / "mappings/hubspot/call.yaml"),
            ],
            "options": {"duplicates": "most_recent"},
        },
    }
    chosen = []
    for name in destinations:
        entry = dict(described[name])
        entry["max_attempts"] = max_attempts
        entry["retry"] = {"base_s": retry_base_s, "max_s": max(retry_base_s * 8, 2.0)}
        if name == "webhook" and webhook_rate:
            entry["rate_limit"] = {"requests": webhook_rate, "per_s": 1}
        chosen.append(entry)
    return {
        "version": 1,
        "sources": [{"id": "callrail", "provider": "callrail", "secrets": ["${CHAOS_SECRET}"]}],
        "destinations": chosen,
        "routes": [{"from": "*", "to": list(destinations)}],
    }


class ChaosHub:
    """The hub's processes and its fakes; every process is a child of the test, stopped at the end."""

    def __init__(
        self,
        root: Path,
        *,
        destinations: Sequence[str] = ("webhook", "salesforce", "hubspot"),
        workers: int = 2,
        web_workers: int = 2,
        database_url: str | None = None,
        retry_base_s: float = 0.5,
        max_attempts: int = 30,
        webhook_rate: int | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.data_dir = data_dir or root / "var"
        self.destination_ids = tuple(destinations)
        self.worker_count = workers
        self.web_workers = web_workers
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'hub.db'}"
        self.config = _config(destinations, retry_base_s, max_attempts, webhook_rate)
        self.port = free_port()
        self.redis = RedisServer(self.root / "redis", free_port())
        self.fakes: dict[str, LocalServer] = {}
        self.apps: dict[str, Any] = {}
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs = self.root / "logs"
        self.answers: list[tuple[int, float]] = []
        self._answers_lock = threading.Lock()
        #: Workers that exited on their own and were started again, as a process manager would
        #: (`hub worker` exits when Redis vanishes under a running job; deployments restart it).
        self.worker_restarts = 0
        self._workers_lock = threading.Lock()
        self._stopping = threading.Event()
        self._keeper = threading.Thread(target=self._keep_workers, name="chaos-keeper", daemon=True)

    # -- lifecycle

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PROMETHEUS"))}
        env.update(
            {
                # A sandbox hub: destinations without credentials talk to their fakes.
                "HUB_ENV": "development",
                "HUB_DATA_DIR": str(self.data_dir),
                "HUB_CONFIG": str(self.root / "hub.yaml"),
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis.url,
                "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
                "HUB_LOG_FORMAT": "json",
                "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
                "CHAOS_SECRET": SECRET,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> ChaosHub:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.root / "hub.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.redis.start()
        for destination in self.config["destinations"]:
            app = registry.sandbox_app(destination["type"])
            assert app is not None
            self.apps[destination["id"]] = app
            self.fakes[destination["id"]] = LocalServer(app).start()
        write_sandbox_urls(self.data_dir, {name: server.url for name, server in self.fakes.items()})
        Database(self.database_url).migrate()
        self.start_web()
        for _ in range(self.worker_count):
            self.workers.append(self._spawn([sys.executable, "-m", "hub.cli", "worker"], "worker"))
        self.wait_ready()
        self._keeper.start()
        return self

    def _keep_workers(self) -> None:
        while not self._stopping.wait(1.0):
            with self._workers_lock:
                for index, process in enumerate(self.workers):
                    if process.poll() is not None:
                        self.workers[index] = self._spawn(
                            [sys.executable, "-m", "hub.cli", "worker"], "worker"
                        )
                        self.worker_restarts += 1

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        # The child keeps its own descriptor of the log; ours is closed at once.
        with open(self.logs / f"{name}-{time.monotonic_ns()}.log", "wb") as log:
            return subprocess.Popen(
                command, cwd=PROJECT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )

    def start_web(self) -> None:
        command = web_command("127.0.0.1", self.port, self.web_workers, "wsgi:create()")
        self.web = self._spawn(command, "web")

    def wait_ready(self, timeout_s: float = 90) -> None:
        """The web answers and every worker has registered with RQ: faults start after that."""
        deadline = time.monotonic() + timeout_s
        connection = redis.Redis.from_url(self.redis.url)
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(requests.RequestException, redis.RedisError):
                    if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200 and len(
                        Worker.all(connection=connection)
                    ) >= len(self.workers):
                        return
                time.sleep(0.2)
        finally:
            connection.close()
        raise AssertionError(f"the hub did not start; logs in {self.logs}")

    def stop(self) -> None:
        self._stopping.set()
        if self._keeper.is_alive():
            self._keeper.join(timeout=5)
        for process in [p for p in [self.web] if p] + self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [p for p in [self.web] if p] + self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for server in self.fakes.values():
            server.stop()
        self.redis.stop()

    # -- faults

    def kill_worker(self, index: int) -> None:
        """SIGKILL, then start a new worker in its place (as a process manager would)."""
        with self._workers_lock:
            self.workers[index].kill()
            self.workers[index].wait()
            self.workers[index] = self._spawn([sys.executable, "-m", "hub.cli", "worker"], "worker")

    def kill_redis(self) -> None:
        assert self.redis.process is not None
        self.redis.process.kill()
        self.redis.process.wait()

    def restart_redis(self) -> None:
        self.redis = RedisServer(self.redis.data_dir, self.redis.port).start()

    def pause_redis(self) -> None:
        assert self.redis.process is not None
        os.kill(self.redis.process.pid, signal.SIGSTOP)

    def resume_redis(self) -> None:
        assert self.redis.process is not None
        os.kill(self.redis.process.pid, signal.SIGCONT)

    def fake(self, destination: str) -> str:
        return self.fakes[destination].url

    def lose_responses(self, destination: str, rate: float, seed: int = 7) -> None:
        requests.post(
            f"{self.fake(destination)}/__fake__/lose_responses", json={"rate": rate, "seed": seed}, timeout=5
        )

    # -- traffic

    def post(self, body: bytes) -> int:
        """One signed delivery; returns its HTTP status (0: no answer)."""
        started = time.monotonic()
        try:
            status = requests.post(
                f"{self.base}/webhooks/callrail", data=body, headers=signed_headers(body), timeout=15
            ).status_code
        except requests.RequestException:
            status = 0
        with self._answers_lock:
            self.answers.append((status, time.monotonic() - started))
        return status

    def post_all(self, bodies: Sequence[bytes], *, copies: int = 1, threads: int = 8) -> list[int]:
        """Post every body `copies` times at once (a provider's duplicate storm when copies > 1)."""
        work = [body for body in bodies for _ in range(copies)]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.post, work))

    def post_until_accepted(self, bodies: Sequence[bytes], *, deadline_s: float = 120) -> None:
        """As providers do: a delivery not answered 2xx is sent again later."""
        pending = list(bodies)
        deadline = time.monotonic() + deadline_s
        while pending and time.monotonic() < deadline:
            statuses = self.post_all(pending)
            pending = [
                body for body, status in zip(pending, statuses, strict=True) if not 200 <= status < 300
            ]
            if pending:
                time.sleep(1)
        assert not pending, f"{len(pending)} deliveries never accepted"

    # -- observing

    def settled(self) -> bool:
        """Every receipt parsed and every delivery final."""
        db = Database(self.database_url)
        try:
            with db.read_session() as session:
                open_receipts = session.scalar(
                    select(func.count()).select_from(Receipt).where(Receipt.status.in_(("received",)))
                )
                open_deliveries = session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.status.not_in((*FINAL, "rejected", "failed", "held")))
                )
            return not open_receipts and not open_deliveries
        finally:
            db.dispose()

    def wait_settled(self, timeout_s: float) -> float | None:
        """Seconds until settled, or None when it did not settle in time."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            with contextlib.suppress(SQLAlchemyError):  # the database may be the injected fault
                if self.settled():
                    return round(time.monotonic() - started, 1)
            time.sleep(0.5)
        return None

    def ledger(self, scenario: str, plans: Sequence[CallPlan], recovery_s: float | None) -> Ledger:
        ledger = Ledger(scenario, calls=len(plans), deliveries_sent=sum(len(p.bodies) for p in plans))
        with self._answers_lock:
            answers = list(self.answers)
        ledger.posts = len(answers)
        ledger.answered_2xx = sum(1 for status, _ in answers if 200 <= status < 300)
        ledger.answered_5xx = sum(1 for status, _ in answers if status >= 500)
        ledger.unanswered = sum(1 for status, _ in answers if status == 0)
        ledger.max_answer_s = round(max((s for _, s in answers), default=0.0), 3)
        ledger.recovery_s = recovery_s
        if self.worker_restarts:
            ledger.notes.append(
                f"workers that exited on their own and were restarted: {self.worker_restarts}"
            )
        db = Database(self.database_url)
        try:
            with db.read_session() as session:
                ledger.receipts_stored = session.scalar(select(func.count()).select_from(Receipt)) or 0
                ledger.deliveries_not_final = (
                    session.scalar(
                        select(func.count()).select_from(Delivery).where(Delivery.status.not_in(FINAL))
                    )
                    or 0
                )
        finally:
            db.dispose()
        calls = {p.call_id for p in plans}
        phones = {p.phone for p in plans}
        for destination in self.destination_ids:
            ledger.destinations[destination] = count_destination(
                destination, self.fake(destination), calls, phones
            )
        return ledger


def count_destination(destination: str, url: str, calls: set[str], phones: set[str]) -> dict[str, int]:
    """What the destination's fake holds, per call: delivered, lost and duplicated."""
    if destination == "webhook":
        items = requests.get(f"{url}/__fake__/requests", timeout=10).json()["items"]
        seen = Counter(((item.get("json") or {}).get("call") or {}).get("provider_call_id") for item in items)
        delivered = {c for c in calls if seen.get(c)}
        # The webhook destination is at least once by contract (receivers dedupe on the
        # delivery id); a delivery id received twice is counted, not treated as a duplicate record.
        repeats = sum(n - 1 for n in Counter(item.get("delivery_id") for item in items).values() if n > 1)
        return {
            "delivered": len(delivered),
            "lost": len(calls - delivered),
            "duplicates": 0,
            "records": len(items),
            "redelivered": repeats,
        }
    if destination == "salesforce":
        tasks = requests.get(f"{url}/__fake__/records/Task", timeout=10).json()["records"]
        leads = requests.get(f"{url}/__fake__/records/Lead", timeout=10).json()["records"]
        per_call = Counter(t.get("CallObject") for t in tasks)
        per_phone = Counter(_digits(lead.get("Phone")) for lead in leads)
        delivered = {c for c in calls if per_call.get(c)}
        duplicates = sum(n - 1 for c, n in per_call.items() if c in calls and n > 1) + sum(
            n - 1 for p, n in per_phone.items() if n > 1
        )
        return {
            "delivered": len(delivered),
            "lost": len(calls - delivered),
            "duplicates": duplicates,
            "records": len(tasks) + len(leads),
        }
    if destination == "hubspot":
        engagements = requests.get(f"{url}/__fake__/records/calls", timeout=10).json()["results"]
        contacts = requests.get(f"{url}/__fake__/records/contacts", timeout=10).json()["results"]
        per_call = Counter(_property(e, "callhub_call_id") for e in engagements)
        per_phone = Counter(_digits(_property(c, "phone")) for c in contacts)
        hub_calls = {k for k in per_call if k}
        delivered = len(hub_calls)
        duplicates = sum(n - 1 for k, n in per_call.items() if k and n > 1) + sum(
            n - 1 for k, n in per_phone.items() if k and n > 1
        )
        return {
            "delivered": delivered,
            "lost": max(len(calls) - delivered, 0),
            "duplicates": duplicates,
            "records": len(engagements) + len(contacts),
        }
    raise AssertionError(f"no ledger for {destination}")


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))[-10:]


def _property(record: dict[str, Any], name: str) -> Any:
    properties = record.get("properties")
    return (properties if isinstance(properties, dict) else record).get(name)


@contextmanager
def running(root: Path, **options: Any) -> Iterator[ChaosHub]:
    hub = ChaosHub(root, **options)
    try:
        yield hub.start()
    finally:
        hub.stop()


def all_bodies(plans: Sequence[CallPlan]) -> list[bytes]:
    return [body for plan in plans for body in plan.bodies]


def finish(ledger: Ledger) -> Ledger:
    """Write the ledger (before any assertion reads it) and print where it is."""
    path = ledger.write()
    print(f"chaos ledger: {path}")
    return ledger


def expect_clean(ledger: Ledger, *, max_recovery_s: float | None = None) -> None:
    assert ledger.recovery_s is not None, f"{ledger.scenario}: never settled ({ledger})"
    assert ledger.lost == 0, ledger
    assert ledger.duplicates == 0, ledger
    assert ledger.deliveries_not_final == 0, ledger
    if max_recovery_s is not None:
        assert ledger.recovery_s <= max_recovery_s, ledger


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
