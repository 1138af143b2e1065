"""Reconciliation: what GA4 reports (Data API) next to what the hub delivered, per day and source.

The Measurement Protocol answers 2xx even for events it drops; this report is where such losses
show. GA4 needs hours (up to two days) to process MP events into standard reports, so recent
shortfalls are `pending`, not `missing`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from connectors.base import DestinationSettings
from hub.core.errors import ConfigError

SANDBOX_PROPERTY_ID: Final = "100000000"

#: (day in the property's time zone, hub source id, GA4 event name)
DayKey = tuple[date, str, str]


@dataclass(frozen=True)
class ReportWindow:
    """Days to compare, inclusive, as dates in the GA4 property's time zone."""

    start: date
    end: date
    timezone: str


#: The lead's seam: delivered GA4 events per (day, source, event name) in the window, counting
#: each event the hub sent (Delivered external_ids "ga4_events"), dated by its timestamp_micros.
DeliveredCounts = Callable[[ReportWindow], Mapping[DayKey, int]]


@dataclass(frozen=True)
class ReportLine:
    day: date
    source: str
    event: str
    reported: int
    delivered: int
    #: ok | missing (GA4 has fewer, past the lag) | pending (fewer, within the lag) | extra
    status: str


def report_window(days: int, today: date, timezone: str) -> ReportWindow:
    return ReportWindow(today - timedelta(days=max(days, 1) - 1), today, timezone)


def property_id(settings: DestinationSettings) -> str:
    value = settings.secret("property_id")
    if value:
        return value.removeprefix("properties/")
    if settings.sandbox:
        return SANDBOX_PROPERTY_ID
    raise ConfigError([f"destinations.{settings.id}: `hub ga4 report` needs the property_id credential"])


def reconcile(
    reported: Mapping[DayKey, int], delivered: Mapping[DayKey, int], today: date, lag_days: int
) -> list[ReportLine]:
    """One line per (day, source, event) seen on either side, with a verdict."""
    lines = []
    for key in sorted(set(reported) | set(delivered)):
        day, source, event = key
        in_ga, sent = reported.get(key, 0), delivered.get(key, 0)
        if in_ga == sent:
            status = "ok"
        elif in_ga > sent:
            status = "extra"
        else:
            status = "pending" if (today - day).days < lag_days else "missing"
        lines.append(ReportLine(day, source, event, in_ga, sent, status))
    return lines


def format_report(lines: Sequence[ReportLine], window: ReportWindow) -> str:
    header = (
        f"GA4 phone events {window.start}..{window.end} ({window.timezone}): GA4 reported vs hub delivered"
    )
    if not lines:
        return f"{header}\n(no phone events on either side)\n"
    source_width = max(len("source"), *(len(line.source) for line in lines))
    event_width = max(len("event"), *(len(line.event) for line in lines))
    rows = [
        f"{'day':<10}  {'source':<{source_width}}  {'event':<{event_width}}  {'ga4':>5}  {'hub':>5}  status"
    ]
    for line in lines:
        flag = line.status.upper() if line.status in ("missing", "extra") else line.status
        rows.append(
            f"{line.day.isoformat():<10}  {line.source:<{source_width}}  {line.event:<{event_width}}  "
            f"{line.reported:>5}  {line.delivered:>5}  {flag}"
        )
    missing = sum(line.delivered - line.reported for line in lines if line.status == "missing")
    extra = sum(line.reported - line.delivered for line in lines if line.status == "extra")
    rows.append(f"gaps: {missing} missing in GA4, {extra} more in GA4 than the hub sent")
    return header + "\n" + "\n".join(rows) + "\n"
