"""The Data API half of the GA4 fake: `runReport` over REST, computed from the events collected.

Serves what google-analytics-data 0.23.3 sends with `transport="rest"`: camelCase JSON, int64 as
strings, enums as ints (`$alt=json;enum-encoding=int`) or names. Supported: dimensions `eventName`,
`date`, `customEvent:<param>`; metrics `eventCount`, `keyEvents`, `totalUsers`; one date range;
`dimensionFilter` with string, in-list, and/or/not; `limit` and `offset`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request

from connectors.ga4.fake.mp import state
from connectors.ga4.fake.state import RecordedEvent

blueprint = Blueprint("ga4_data", __name__)

METRICS: Final = ("eventCount", "keyEvents", "totalUsers")
_MATCH_TYPES: Final = {
    0: "EXACT",
    1: "EXACT",
    2: "BEGINS_WITH",
    3: "ENDS_WITH",
    4: "CONTAINS",
    5: "FULL_REGEXP",
    6: "PARTIAL_REGEXP",
}
_DAYS_AGO: Final = re.compile(r"^(\d+)daysAgo$")
_STATUS_NAMES: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(code: int, message: str) -> Response:
    """GA's error body; the client picks its exception class from the HTTP status."""
    response = jsonify(
        {"error": {"code": code, "message": message, "status": _STATUS_NAMES.get(code, "UNKNOWN")}}
    )
    response.status_code = code
    return response


@blueprint.post("/v1beta/properties/<property_id>:runReport")
def run_report(property_id: str) -> Response:
    fault = state().take_fault("report")
    if fault is not None:
        return error_response(fault.status, f"injected fault {fault.status}")
    expected = current_app.config.get("GA4_PROPERTY_ID")
    if expected and property_id != expected:
        return error_response(
            403, f"User does not have sufficient permissions for this property ({property_id})."
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "Request body is not a JSON object.")
    try:
        return jsonify(_report(body))
    except ApiError as exc:
        return error_response(exc.code, exc.message)


def _report(body: Mapping[str, Any]) -> dict[str, Any]:
    zone = ZoneInfo(current_app.config["GA4_TIMEZONE"])
    key_events = set(current_app.config["GA4_KEY_EVENTS"])
    dimensions = [str(d.get("name", "")) for d in body.get("dimensions", [])]
    metrics = [str(m.get("name", "")) for m in body.get("metrics", [])]
    if not metrics:
        raise ApiError(400, "A report needs at least one metric.")
    readers = [_dimension_reader(name, zone) for name in dimensions]
    for name in metrics:
        if name not in METRICS:
            raise ApiError(
                400, f"Field {name} is not a valid metric. The sandbox knows {', '.join(METRICS)}."
            )
    start, end = _date_range(body.get("dateRanges") or [], zone)
    condition = _filter(body.get("dimensionFilter"), zone)
    counts: Counter[tuple[str, ...]] = Counter()
    key_counts: Counter[tuple[str, ...]] = Counter()
    users: defaultdict[tuple[str, ...], set[str]] = defaultdict(set)
    for event in state().events():
        if not start <= event.moment.astimezone(zone).date() <= end or not condition(event):
            continue
        row_key = tuple(read(event) for read in readers)
        counts[row_key] += 1
        key_counts[row_key] += event.name in key_events
        users[row_key].add(event.client_id)
    values = {
        "eventCount": counts,
        "keyEvents": key_counts,
        "totalUsers": {k: len(v) for k, v in users.items()},
    }
    rows = [
        {
            "dimensionValues": [{"value": value} for value in row_key],
            "metricValues": [{"value": str(values[name].get(row_key, 0))} for name in metrics],
        }
        for row_key in sorted(counts)
    ]
    offset = int(body.get("offset") or 0)
    limit = int(body.get("limit") or 10_000)
    return {
        "dimensionHeaders": [{"name": name} for name in dimensions],
        "metricHeaders": [{"name": name, "type": "TYPE_INTEGER"} for name in metrics],
        "rows": rows[offset : offset + limit],
        "rowCount": len(rows),
        "metadata": {"currencyCode": "USD", "timeZone": current_app.config["GA4_TIMEZONE"]},
        "kind": "analyticsData#runReport",
    }


def _dimension_reader(name: str, zone: ZoneInfo) -> Callable[[RecordedEvent], str]:
    if name == "eventName":
        return lambda event: event.name
    if name == "date":
        return lambda event: event.moment.astimezone(zone).strftime("%Y%m%d")
    if name.startswith("customEvent:") and len(name) > len("customEvent:"):
        param = name.removeprefix("customEvent:")
        return lambda event: str(event.params[param]) if param in event.params else "(not set)"
    raise ApiError(
        400, f"Field {name} is not a valid dimension. The sandbox knows eventName, date, customEvent:*."
    )


def _date_range(ranges: list[Any], zone: ZoneInfo) -> tuple[date, date]:
    if len(ranges) != 1 or not isinstance(ranges[0], Mapping):
        raise ApiError(400, "The sandbox supports exactly one date range.")
    today = state().clock().astimezone(zone).date()
    start = _day(ranges[0].get("startDate"), today)
    end = _day(ranges[0].get("endDate"), today)
    if start > end:
        raise ApiError(400, "startDate must not be after endDate.")
    return start, end


def _day(value: Any, today: date) -> date:
    text = str(value or "")
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    relative = _DAYS_AGO.match(text)
    if relative:
        return today - timedelta(days=int(relative.group(1)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"Invalid date {text!r}: use YYYY-MM-DD, today, yesterday or NdaysAgo.") from None


def _filter(expression: Any, zone: ZoneInfo) -> Callable[[RecordedEvent], bool]:
    if not expression:
        return lambda event: True
    if "andGroup" in expression:
        parts = [_filter(item, zone) for item in expression["andGroup"].get("expressions", [])]
        return lambda event: all(part(event) for part in parts)
    if "orGroup" in expression:
        parts = [_filter(item, zone) for item in expression["orGroup"].get("expressions", [])]
        return lambda event: any(part(event) for part in parts)
    if "notExpression" in expression:
        inner = _filter(expression["notExpression"], zone)
        return lambda event: not inner(event)
    if "filter" in expression:
        return _field_filter(expression["filter"], zone)
    raise ApiError(400, "Unsupported dimensionFilter expression.")


def _field_filter(spec: Mapping[str, Any], zone: ZoneInfo) -> Callable[[RecordedEvent], bool]:
    read = _dimension_reader(str(spec.get("fieldName", "")), zone)
    if "inListFilter" in spec:
        in_list = spec["inListFilter"]
        sensitive = bool(in_list.get("caseSensitive", False))
        wanted = {_fold(str(value), sensitive) for value in in_list.get("values", [])}
        return lambda event: _fold(read(event), sensitive) in wanted
    if "stringFilter" in spec:
        string = spec["stringFilter"]
        sensitive = bool(string.get("caseSensitive", False))
        match_type = string.get("matchType", "EXACT")
        match_type = _MATCH_TYPES.get(match_type, "EXACT") if isinstance(match_type, int) else str(match_type)
        value = _fold(str(string.get("value", "")), sensitive)
        tests: dict[str, Callable[[str], bool]] = {
            "EXACT": lambda text: text == value,
            "BEGINS_WITH": lambda text: text.startswith(value),
            "ENDS_WITH": lambda text: text.endswith(value),
            "CONTAINS": lambda text: value in text,
            "FULL_REGEXP": lambda text: re.fullmatch(value, text) is not None,
            "PARTIAL_REGEXP": lambda text: re.search(value, text) is not None,
        }
        test = tests.get(match_type, tests["EXACT"])
        return lambda event: test(_fold(read(event), sensitive))
    raise ApiError(400, "The sandbox supports stringFilter and inListFilter.")


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.lower()
