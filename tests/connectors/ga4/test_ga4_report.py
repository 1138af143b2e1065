"""`hub ga4 report`: the real google-analytics-data client against the sandbox's Data API."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import DateRange, Dimension, Metric, RunReportRequest
from google.api_core import exceptions as google_errors
from google.auth.credentials import AnonymousCredentials

from connectors.base import MemoryContext
from connectors.ga4 import GA4Connector
from connectors.ga4.cli import report_command
from connectors.ga4.reporting import DayKey, ReportWindow
from tests.connectors.ga4.calls import NOW, callrail_call, clock, ctm_call, item, micros, qualified, settings

TODAY = NOW.date()
PROPERTY = {"property_id": "123456789"}


def deliver_sample_calls(url: str, http: requests.Session) -> None:
    ga4 = GA4Connector(settings(url), MemoryContext(), clock=clock)
    ga4.deliver([item(qualified(callrail_call()), "d1"), item(ctm_call(), "d2")])
    # An event the hub never sent (another tool, or a test): GA4 shows more than the hub delivered.
    yesterday = micros(datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), NOW.tzinfo))
    extra = {
        "client_id": "9.9",
        "events": [
            {"name": "phone_call", "timestamp_micros": yesterday, "params": {"hub_source": "callrail"}}
        ],
    }
    http.post(
        f"{url}/mp/collect", params={"measurement_id": "G-OTHER1"}, json=extra, timeout=5
    ).raise_for_status()


def delivered(window: ReportWindow) -> Mapping[DayKey, int]:
    counts = {
        (TODAY, "callrail", "phone_call"): 2,  # one more than GA4 shows: within the lag, pending
        (TODAY, "callrail", "qualified_call"): 1,
        (TODAY, "ctm", "phone_call"): 1,
        (TODAY - timedelta(days=2), "ctm", "phone_call"): 1,  # GA4 never got it: missing
        (TODAY - timedelta(days=9), "ctm", "phone_call"): 1,  # outside the window asked for
    }
    return {key: count for key, count in counts.items() if window.start <= key[0] <= window.end}


def test_report_lists_ga4_next_to_the_hub_and_flags_gaps(ga4_url: str, http: requests.Session) -> None:
    deliver_sample_calls(ga4_url, http)
    out = io.StringIO()

    code = report_command(settings(ga4_url, credentials=PROPERTY), delivered, 7, out, today=TODAY)

    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "GA4 phone events 2024-03-06..2024-03-12 (UTC): GA4 reported vs hub delivered"
    rows = [line.split() for line in lines[2:-1]]
    assert rows == [
        ["2024-03-10", "ctm", "phone_call", "0", "1", "MISSING"],
        ["2024-03-11", "callrail", "phone_call", "1", "0", "EXTRA"],
        ["2024-03-12", "callrail", "phone_call", "1", "2", "pending"],
        ["2024-03-12", "callrail", "qualified_call", "1", "1", "ok"],
        ["2024-03-12", "ctm", "phone_call", "1", "1", "ok"],
    ]
    assert lines[-1] == "gaps: 1 missing in GA4, 1 more in GA4 than the hub sent"


def test_report_without_lag_flags_today_and_narrows_to_the_days_asked(
    ga4_url: str, http: requests.Session
) -> None:
    deliver_sample_calls(ga4_url, http)
    out = io.StringIO()

    code = report_command(settings(ga4_url, credentials=PROPERTY), delivered, 1, out, lag_days=0, today=TODAY)

    assert code == 1
    assert "2024-03-12  callrail  phone_call          1      2  MISSING" in out.getvalue()
    assert "2024-03-10" not in out.getvalue()


def test_report_with_a_service_account_stays_offline(
    ga4_url: str, http: requests.Session, tmp_path: object
) -> None:
    deliver_sample_calls(ga4_url, http)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "callhub-test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "reporter@callhub-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    creds = {**PROPERTY, "service_account_json": json.dumps(account)}
    out = io.StringIO()

    code = report_command(settings(ga4_url, credentials=creds), delivered, 7, out, today=TODAY)

    assert code == 1
    assert "2024-03-12  ctm       phone_call          1      1  ok" in out.getvalue()


def test_report_prints_data_api_errors(ga4_url: str, http: requests.Session) -> None:
    http.post(f"{ga4_url}/__fake__/faults", json={"endpoint": "report", "status": 429}, timeout=5)
    out = io.StringIO()

    code = report_command(settings(ga4_url, credentials=PROPERTY), delivered, 7, out, today=TODAY)

    assert code == 2
    assert out.getvalue().startswith("GA4 Data API error: HTTP 429")


def test_wrong_property_is_forbidden(ga4_url: str) -> None:
    out = io.StringIO()
    code = report_command(
        settings(ga4_url, credentials={"property_id": "42"}), delivered, 7, out, today=TODAY
    )
    assert code == 2
    assert "HTTP 403" in out.getvalue()


def client(url: str) -> BetaAnalyticsDataClient:
    return BetaAnalyticsDataClient(
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
    )


def test_data_api_fake_answers_the_real_client_with_ga_shapes(ga4_url: str, http: requests.Session) -> None:
    deliver_sample_calls(ga4_url, http)
    response = client(ga4_url).run_report(
        RunReportRequest(
            property="properties/123456789",
            dimensions=[Dimension(name="eventName"), Dimension(name="customEvent:call_campaign")],
            metrics=[Metric(name="eventCount"), Metric(name="keyEvents"), Metric(name="totalUsers")],
            date_ranges=[DateRange(start_date="7daysAgo", end_date="today")],
            limit=2,
        )
    )

    assert [header.name for header in response.dimension_headers] == [
        "eventName",
        "customEvent:call_campaign",
    ]
    assert response.row_count == 3
    rows = [
        ([value.value for value in row.dimension_values], [value.value for value in row.metric_values])
        for row in response.rows
    ]
    assert rows == [
        (["phone_call", "(not set)"], ["1", "1", "1"]),
        (["phone_call", "emergency-atl"], ["2", "2", "1"]),
    ]
    assert response.metadata.time_zone == "UTC"


def test_data_api_fake_refuses_unknown_fields_like_ga(ga4_url: str) -> None:
    with pytest.raises(google_errors.BadRequest, match="not a valid dimension"):
        client(ga4_url).run_report(
            RunReportRequest(
                property="properties/123456789",
                dimensions=[Dimension(name="sessionSourceMediumTypo")],
                metrics=[Metric(name="eventCount")],
                date_ranges=[DateRange(start_date=date(2024, 3, 1).isoformat(), end_date="today")],
            )
        )
