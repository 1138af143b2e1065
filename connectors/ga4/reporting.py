"""Reconciliation: what GA4 reports (Data API) next to what the hub delivered, per day and source.

The Measurement Protocol answers 2xx even for events it drops; this report is where such losses
show. GA4 needs hours (up to two days) to process MP events into standard reports, so recent
shortfalls are `pending`, not `missing`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    Metric,
    RunReportRequest,
)
from google.auth.credentials import AnonymousCredentials, Credentials
from google.oauth2 import service_account

from connectors.base import DestinationSettings
from hub.core.errors import ConfigError

SCOPES: Final = ("https://www.googleapis.com/auth/analytics.readonly",)
PAGE_SIZE: Final = 10_000
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


def data_client(settings: DestinationSettings) -> BetaAnalyticsDataClient:
    """The Data API client for a destination: REST, pointed at the sandbox when there is one."""
    options: dict[str, Any] = {"api_endpoint": settings.sandbox_url} if settings.sandbox_url else {}
    return BetaAnalyticsDataClient(
        credentials=_credentials(settings), transport="rest", client_options=options
    )


def property_id(settings: DestinationSettings) -> str:
    value = settings.secret("property_id")
    if value:
        return value.removeprefix("properties/")
    if settings.sandbox:
        return SANDBOX_PROPERTY_ID
    raise ConfigError([f"destinations.{settings.id}: `hub ga4 report` needs the property_id credential"])


def _credentials(settings: DestinationSettings) -> Credentials:
    account = settings.secret("service_account_json")
    if account:
        # The credential holds the key file's JSON itself, or the path to it.
        if account.lstrip().startswith("{"):
            info = json.loads(account)
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call,no-any-return]
        return service_account.Credentials.from_service_account_file(account, scopes=SCOPES)  # type: ignore[no-untyped-call,no-any-return]
    if settings.sandbox:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    raise ConfigError(
        [f"destinations.{settings.id}: `hub ga4 report` needs the service_account_json credential"]
    )


def fetch_reported(
    client: BetaAnalyticsDataClient,
    property_name: str,
    window: ReportWindow,
    events: Sequence[str],
    source_dimension: str,
) -> dict[DayKey, int]:
    """GA4's event counts per (day, source, event) for `events` in the window."""
    counts: dict[DayKey, int] = {}
    offset = 0
    while True:
        response = client.run_report(
            RunReportRequest(
                property=f"properties/{property_name}",
                dimensions=[
                    Dimension(name="date"),
                    Dimension(name=source_dimension),
                    Dimension(name="eventName"),
                ],
                metrics=[Metric(name="eventCount")],
                date_ranges=[DateRange(start_date=window.start.isoformat(), end_date=window.end.isoformat())],
                dimension_filter=FilterExpression(
                    filter=Filter(
                        field_name="eventName", in_list_filter=Filter.InListFilter(values=list(events))
                    )
                ),
                limit=PAGE_SIZE,
                offset=offset,
            )
        )
        for row in response.rows:
            day_text, source, event = (value.value for value in row.dimension_values)
            day = datetime.strptime(day_text, "%Y%m%d").date()
            counts[(day, source, event)] = counts.get((day, source, event), 0) + int(
                row.metric_values[0].value
            )
        offset += len(response.rows)
        if not response.rows or offset >= response.row_count:
            return counts


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


def probe_data_api(settings: DestinationSettings) -> None:
    """A one-row report: proves the property id and the service account (raises on failure)."""
    client = data_client(settings)
    client.run_report(
        RunReportRequest(
            property=f"properties/{property_id(settings)}",
            metrics=[Metric(name="eventCount")],
            date_ranges=[DateRange(start_date="today", end_date="today")],
            limit=1,
        )
    )
