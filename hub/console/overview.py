"""The overview's figures: tiles and chart series over a time range, from SQL aggregates."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.queries import iso
from hub.store.models import Call, Delivery

RANGES = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
CALL_OUTCOMES = ("answered", "missed", "voicemail")
BACKLOG = ("pending", "queued", "sending")


def _day(value: Any) -> str:
    return str(value)[:10]


def _true(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def overview(session: Session, range_name: str, now: datetime | None = None) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    since = moment - RANGES.get(range_name, RANGES["7d"])
    day = func.date(Call.first_event_at)
    status = Call.state[("call", "status")].as_string()
    first = Call.state[("call", "first_call")].as_string()
    per_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    outcomes: dict[str, int] = defaultdict(int)
    first_time: dict[str, int] = defaultdict(int)
    calls = 0
    rows = session.execute(
        select(Call.source, day, status, first, func.count())
        .where(Call.first_event_at >= since)
        .group_by(Call.source, day, status, first)
    ).all()
    for source, when, call_status, first_call, count in rows:
        calls += count
        per_source[source][_day(when)] += count
        outcomes[call_status if call_status in CALL_OUTCOMES else "other"] += count
        if _true(first_call):
            first_time[_day(when)] += count
    delivery_day = func.date(Delivery.created_at)
    by_destination: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    totals: dict[str, int] = defaultdict(int)
    for destination, when, delivery_status, count in session.execute(
        select(Delivery.destination, delivery_day, Delivery.status, func.count())
        .where(Delivery.created_at >= since, Delivery.superseded_by.is_(None))
        .group_by(Delivery.destination, delivery_day, Delivery.status)
    ):
        by_destination[destination][delivery_status][_day(when)] = count
        totals[delivery_status] += count
    backlog, oldest = session.execute(
        select(func.count(), func.min(Delivery.created_at)).where(Delivery.status.in_(BACKLOG))
    ).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    days = sorted({d for series in per_source.values() for d in series} | set(first_time))
    answered = outcomes.get("answered", 0)
    return {
        "range": range_name,
        "since": iso(since),
        "tiles": {
            "calls": calls,
            "answered_rate": round(answered / calls, 3) if calls else None,
            "first_time_callers": sum(first_time.values()),
            "delivered": totals.get("delivered", 0),
            "failed": totals.get("failed", 0) + totals.get("rejected", 0),
            "backlog": backlog,
            "oldest_pending_s": round((moment - oldest).total_seconds()) if oldest else None,
            "oldest_pending_at": iso(oldest),
        },
        "days": days,
        "calls_per_source": {
            source: [series.get(d, 0) for d in days] for source, series in per_source.items()
        },
        "call_outcomes": dict(outcomes),
        "first_time_callers": [first_time.get(d, 0) for d in days],
        "delivery_outcomes": {
            destination: {
                "days": sorted({d for series in statuses.values() for d in series}),
                "statuses": {s: dict(series) for s, series in statuses.items()},
            }
            for destination, statuses in by_destination.items()
        },
    }
