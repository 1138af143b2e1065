"""The share of a slow CRM's quota the hub uses: HubSpot's fake answering in 200 ms, with a backlog
of new callers large enough that HubSpot's 100 requests per 10 s, not the hub, should be the limit.

HubSpot is paused while the calls arrive, are parsed and reach the other destinations, so its
backlog is all there when it resumes and no ingest competes with it. Measured from the fake's own
log: requests per second from one quota window after HubSpot's first request (the first window
may spend the whole quota at once: it is burst allowance, not pace) until its last one. Every
call is a realistic one: a new caller, the shipped mappings, the connector's own batch size.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import func, select

from hub.pauses import pause, resume
from hub.store.models import Delivery

if TYPE_CHECKING:
    from bench.hubrun import HubRun, Sender

TERMINAL = ("delivered", "skipped", "held", "rejected", "failed")
HUBSPOT_QUOTA = 100
HUBSPOT_WINDOW_S = 10.0
LATENCY_S = 0.2
TARGET_SHARE = 0.90


@dataclass(frozen=True)
class Timeline:
    """What the fake saw: per request (arrived, answered), wall-clock seconds, in arrival order."""

    requests: list[tuple[float, float]]

    @classmethod
    def fetch(cls, url: str) -> Timeline:
        entries = requests.get(f"{url}/__fake__/log", timeout=10).json()["requests"]
        return cls(sorted((float(e["arrived"]), float(e["answered"])) for e in entries))

    def since(self, moment: float) -> Timeline:
        return Timeline([r for r in self.requests if r[0] >= moment])

    def paced_rate(self) -> tuple[float, float, int]:
        """(requests/s, seconds, requests) from one quota window after the first arrival to the last."""
        if len(self.requests) < 2:
            return 0.0, 0.0, len(self.requests)
        start = self.requests[0][0] + HUBSPOT_WINDOW_S
        end = self.requests[-1][0]
        counted = sum(1 for arrived, _ in self.requests if start <= arrived < end)
        span = end - start
        return (counted / span if span > 0 else 0.0), span, counted

    def in_flight(self) -> float:
        """Requests the fake held on average between the first arrival and the last answer."""
        if not self.requests:
            return 0.0
        busy = sum(answered - arrived for arrived, answered in self.requests)
        span = max(a for _, a in self.requests) - self.requests[0][0]
        return busy / span if span > 0 else 0.0

    def idle_gaps(self) -> dict[str, float]:
        """Seconds with nothing in flight at the fake, split by length (where the hub left it idle)."""
        gaps = {"under 50 ms": 0.0, "50-250 ms": 0.0, "over 250 ms": 0.0}
        busy_until = self.requests[0][1] if self.requests else 0.0
        for arrived, answered in self.requests[1:]:
            if arrived > busy_until:
                gap = arrived - busy_until
                key = "under 50 ms" if gap < 0.05 else "50-250 ms" if gap < 0.25 else "over 250 ms"
                gaps[key] += gap
            busy_until = max(busy_until, answered)
        return gaps


def request_mix(url: str, since: float) -> str:
    """What the fake was asked from `since`: requests per kind (search, batch create, ...) and 429s."""
    entries = requests.get(f"{url}/__fake__/log", timeout=10).json()["requests"]
    kinds: Counter[str] = Counter()
    for entry in entries:
        if float(entry["arrived"]) < since:
            continue
        parts = str(entry["path"]).split("/")
        kind = " ".join(p for p in parts[-3:] if p and not p.isdigit() and p not in ("crm", "v3", "v4"))
        kinds[kind + (" (429)" if entry["status"] == 429 else "")] += 1
    return ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())


def _hubspot_open(hub: HubRun) -> int:
    with hub.db.read_session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.destination == "hubspot", Delivery.status.not_in(TERMINAL))
            )
            or 0
        )


def _set_paused(hub: HubRun, paused: bool) -> None:
    with hub.db.session() as session:
        if paused:
            pause(session, "hubspot", "bench", "bench: building a backlog", datetime.now(UTC))
        else:
            resume(session, "hubspot", "bench", datetime.now(UTC))


def measure(
    hub: HubRun, sender: Sender, calls: int, *, limit_s: float = 300.0
) -> tuple[list[str], dict[str, Any]]:
    """Lines to print and the figures (share, ...) for the summary."""
    _set_paused(hub, True)
    started = time.monotonic()
    try:
        sender.burst(calls, "crm")
        # Everything but HubSpot's backlog done: its drain then competes with nothing.
        while hub.open_work() > _hubspot_open(hub) and time.monotonic() - started < limit_s:
            time.sleep(0.5)
        backlog = _hubspot_open(hub)
        others = hub.open_work() - backlog
        before = hub.api_requests()["hubspot"]
        cpu_before = hub.cpu_seconds()
        hub.latency("hubspot", LATENCY_S)
        resumed = time.time()
    finally:
        _set_paused(hub, False)
    draining = time.monotonic()
    try:
        while _hubspot_open(hub) and time.monotonic() - draining < limit_s:
            time.sleep(0.5)
        left = _hubspot_open(hub)
    finally:
        hub.latency("hubspot", 0.0)
    made = hub.api_requests()["hubspot"] - before
    cpu = {kind: seconds - cpu_before.get(kind, 0.0) for kind, seconds in hub.cpu_seconds().items()}
    timeline = Timeline.fetch(hub.sandbox["hubspot"]).since(resumed)
    rate, span, counted = timeline.paced_rate()
    share = rate * HUBSPOT_WINDOW_S / HUBSPOT_QUOTA
    drained_s = (timeline.requests[-1][1] - timeline.requests[0][0]) if timeline.requests else 0.0
    gaps = timeline.idle_gaps()
    lines = [
        f"HubSpot answering in {LATENCY_S * 1000:.0f} ms, {backlog} new calls waiting when it resumed: "
        f"{rate:.2f} requests/s over {span:.0f} s ({counted} requests, from one quota window after its first) "
        f"= {share:.0%} of its {HUBSPOT_QUOTA} per {HUBSPOT_WINDOW_S:g} s quota "
        f"(target >= {TARGET_SHARE:.0%}: {'met' if share >= TARGET_SHARE else 'NOT met'})",
        f"  {made} requests for {backlog} calls ({made / backlog if backlog else float('nan'):.3f} per call), "
        f"backlog drained in {drained_s:.0f} s, {timeline.in_flight():.2f} requests in flight on average, "
        f"idle at the fake: "
        + ", ".join(f"{v:.1f} s in gaps {k}" for k, v in gaps.items())
        + (f"; {left} HubSpot deliveries still open after {limit_s:g} s" if left else "")
        + (
            f"; {others} other receipts and deliveries were still open when it resumed (the drain shared the workers)"
            if others
            else ""
        ),
        f"  requests by kind: {request_mix(hub.sandbox['hubspot'], resumed)}",
        f"  CPU seconds during the drain ({drained_s:.0f} s on {os.cpu_count()} cores): "
        + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in sorted(cpu.items()))
        + (f"; {sum(cpu.values()) / made:.2f} s per request" if made else ""),
    ]
    return lines, {"share": share, "rate": rate, "backlog": backlog}
