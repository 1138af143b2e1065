"""Call events shaped like what the CallRail and CTM parsers produce for the web-session fixtures."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.base import DeliveryItem, DestinationSettings
from hub.core.events import Attribution, Call, Caller, CallEvent, Outcome
from hub.core.records import RenderedRecord, Skip
from hub.core.secrets import Secret
from hub.mapping import load_mapping

PROJECT = Path(__file__).resolve().parents[3]
MAPPINGS = PROJECT / "mappings" / "ga4"

CALL_STARTED = datetime(2024, 3, 12, 18, 22, 7, 102000, tzinfo=UTC)
#: "Now" for these tests: shortly after the fixture calls ended.
NOW = CALL_STARTED + timedelta(minutes=20)
GA_CLIENT_ID = "1187416732.1710263921"
GA_SESSION_ID = "1710263921"
MEASUREMENT_ID = "G-8ZQ2P4R1XY"
API_SECRET = "s3cr3t-api-value"


def clock() -> datetime:
    return NOW


def callrail_call(**changes: Any) -> CallEvent:
    """CallRail `post_call` answered, with the `_ga` cookie (`ga: GA1.2.1187416732.1710263921`)."""
    event = CallEvent(
        provider="callrail",
        provider_call_id="CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1",
        kind="call.completed",
        occurred_at=CALL_STARTED + timedelta(minutes=7),
        id="evt_callrail_1",
        source="callrail",
        call=Call(
            started_at=CALL_STARTED,
            duration_s=412,
            direction="inbound",
            status="answered",
            first_call=True,
            spam=False,
        ),
        caller=Caller(number="+14705550183", city="Decatur", region="GA", country="US"),
        tracking_number="+14045550199",
        business_number="+14045550147",
        attribution=Attribution(
            source="Google Ads",
            medium="cpc",
            campaign="emergency-atl",
            keyword="emergency plumber decatur",
            gclid="Cj0KCQjw5cOwBhCiARIsAJ5njuYq2Vd8X0pLk3mZsT9aQw1Rb7HcYfE4nUo2GgKjPzXvA6sWqRtYeLaAm0hEALw_wcB",
            utm_source="google",
            utm_medium="cpc",
            utm_campaign="emergency-atl",
            ga_client_id=GA_CLIENT_ID,
        ),
    )
    return dataclasses.replace(event, **changes)


def ctm_call(**changes: Any) -> CallEvent:
    """CTM `call_end` answered, with `ga.cid` and a GA4 session in `ga.ga4`."""
    event = CallEvent(
        provider="ctm",
        provider_call_id="2394857712",
        kind="call.completed",
        occurred_at=CALL_STARTED + timedelta(minutes=7),
        id="evt_ctm_1",
        source="ctm",
        call=Call(
            started_at=CALL_STARTED, duration_s=431, talk_time_s=412, status="answered", first_call=True
        ),
        caller=Caller(number="+14705550183"),
        tracking_number="+14045550199",
        attribution=Attribution(
            source="Google Ads",
            medium="cpc",
            campaign="emergency-atl",
            keyword="emergency plumber decatur",
            ga_client_id=GA_CLIENT_ID,
            ga_session_id=GA_SESSION_ID,
        ),
    )
    return dataclasses.replace(event, **changes)


def with_attribution(event: CallEvent, **changes: Any) -> CallEvent:
    return dataclasses.replace(event, attribution=dataclasses.replace(event.attribution, **changes))


def with_call(event: CallEvent, **changes: Any) -> CallEvent:
    return dataclasses.replace(event, call=dataclasses.replace(event.call, **changes))


def qualified(event: CallEvent, value: str = "250.00") -> CallEvent:
    return dataclasses.replace(
        event,
        kind="call.updated",
        outcome=Outcome(qualified=True, lead_status="good_lead", value=Decimal(value), currency="USD"),
    )


def render(event: CallEvent) -> list[RenderedRecord]:
    """The shipped GA4 mappings, rendered by the mapping engine."""
    records = []
    for path in sorted(MAPPINGS.glob("*.yaml")):
        result = load_mapping(path).render(event)
        if not isinstance(result, Skip):
            records.append(result)
    return records


def item(
    event: CallEvent, delivery_id: str = "d1", records: list[RenderedRecord] | None = None
) -> DeliveryItem:
    return DeliveryItem(delivery_id, event, event, render(event) if records is None else records)


def record(
    name: str = "phone_call", dotted: Mapping[str, Any] | None = None, **fields: Any
) -> RenderedRecord:
    """A hand-built record: a client id and a fresh timestamp unless given (`dotted` for `params.x`)."""
    values = {"client_id": GA_CLIENT_ID, "timestamp_micros": micros(CALL_STARTED), **(dotted or {}), **fields}
    return RenderedRecord("test.yaml", name, {k: v for k, v in values.items() if v is not None})


def micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def settings(
    url: str | None, *, credentials: dict[str, str] | None = None, **options: Any
) -> DestinationSettings:
    creds = (
        {"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET} if credentials is None else credentials
    )
    return DestinationSettings(
        id="ga4",
        type="ga4",
        credentials={name: Secret(value) for name, value in creds.items()},
        options=options,
        sandbox_url=url,
        timeout_s=5.0,
    )
