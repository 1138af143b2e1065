"""The GA4 Data API client, for `hub ga4 report` and `hub check`: GA4's own event counts.

Kept apart from the reconciliation (connectors.ga4.reporting) because google-analytics-data
brings gRPC, protobuf and google-auth, tens of megabytes that no delivery needs: only the
commands that read reports import this module, when they run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
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
from connectors.ga4.reporting import DayKey, ReportWindow, property_id
from hub.core.errors import ConfigError

SCOPES: Final = ("https://www.googleapis.com/auth/analytics.readonly",)
PAGE_SIZE: Final = 10_000


def data_client(settings: DestinationSettings) -> BetaAnalyticsDataClient:
    """The Data API client for a destination: REST, pointed at the sandbox when there is one."""
    options: dict[str, Any] = {"api_endpoint": settings.sandbox_url} if settings.sandbox_url else {}
    return BetaAnalyticsDataClient(
        credentials=_credentials(settings), transport="rest", client_options=options
    )


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
