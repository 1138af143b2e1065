"""`hub ga4 validate FILE` and `hub ga4 report --days N`.

The hub's CLI owns configuration and the delivery store; these commands take what they need as
parameters. The seam (see connectors.hooks): `register(subparsers)` adds `ga4 validate` and
`ga4 report`, whose `connector_command` the hub runs with its `HubServices`; `run(args, env)`
runs them over any `Ga4Environment`.

`validate_command` and `report_command` are plain functions for callers that hold the pieces
already (tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from zoneinfo import ZoneInfo

import requests

from connectors.base import DeliveryError, DeliveryItem, DestinationSettings, Skipped
from connectors.ga4.connector import mp_transport
from connectors.ga4.coverage import coverage_by_source, format_coverage
from connectors.ga4.environment import HubEnvironment
from connectors.ga4.options import parse_options
from connectors.ga4.payload import EventDraft, EventRef, pack_requests
from connectors.ga4.plan import Planner, refusal
from connectors.ga4.reporting import (
    DayKey,
    DeliveredCounts,
    ReportWindow,
    format_report,
    property_id,
    reconcile,
    report_window,
)
from connectors.ga4.transport import DEBUG_PATH, MpTransportError
from connectors.hooks import HubServices
from hub.core.errors import ConfigError
from hub.core.events import CallEvent, load_event
from hub.core.records import RenderedRecord

if TYPE_CHECKING:
    from google.analytics.data_v1beta import BetaAnalyticsDataClient

Render = Callable[[CallEvent], Sequence[RenderedRecord]]
#: Default days GA4 may take to show MP events in standard reports.
DEFAULT_LAG_DAYS = 2


class Ga4Environment(Protocol):
    """What `hub ga4` needs from the hub, implemented by the hub's CLI over hub.yaml and the store."""

    def ga4_destination(self, destination_id: str | None) -> DestinationSettings:
        """The GA4 destination's settings (the only one when `destination_id` is None).

        In sandbox mode `sandbox_url` must point at a running fake (e.g. the one `hub run` serves).
        """

    def render(self, destination_id: str, event: CallEvent) -> Sequence[RenderedRecord]:
        """What the destination's mappings render for `event` (Skips left out)."""

    def delivered_counts(self, destination_id: str, window: ReportWindow) -> Mapping[DayKey, int]:
        """GA4 events the hub delivered, per (day, source, event name); see `DeliveredCounts`."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `ga4 validate` and `ga4 report` to the hub's CLI."""
    ga4 = subparsers.add_parser("ga4", help="GA4: validate rendered events, reconcile with GA4 reports")
    ga4.set_defaults(connector_command=run_with_hub)
    commands = ga4.add_subparsers(dest="ga4_command", required=True)
    validate = commands.add_parser("validate", help="send rendered events to GA4's validation server")
    validate.add_argument(
        "file", type=Path, help="normalized call event JSON (as `hub normalize` prints), or a list"
    )
    validate.add_argument("--destination", help="GA4 destination id (needed when hub.yaml has several)")
    validate.set_defaults(ga4_handler=_validate_handler)
    report = commands.add_parser("report", help="GA4-reported phone events next to what the hub delivered")
    report.add_argument("--days", type=int, default=7, help="days to compare, today included (default 7)")
    report.add_argument(
        "--lag-days",
        type=int,
        default=DEFAULT_LAG_DAYS,
        help="recent days whose shortfall is GA4 processing lag, not loss (default 2)",
    )
    report.add_argument("--destination", help="GA4 destination id (needed when hub.yaml has several)")
    report.set_defaults(ga4_handler=_report_handler)


def run(args: argparse.Namespace, env: Ga4Environment, out: TextIO | None = None) -> int:
    """Run the parsed `hub ga4 ...` command; returns the exit code."""
    handler: Callable[[argparse.Namespace, Ga4Environment, TextIO], int] = args.ga4_handler
    return handler(args, env, out or sys.stdout)


def run_with_hub(args: argparse.Namespace, services: HubServices) -> int:
    """Run `hub ga4 ...` over hub.yaml and the delivery store; a report ends with attribution coverage."""
    env = HubEnvironment(services)
    code = run(args, env)
    if args.ga4_command == "report":
        destination_id = env.destination_id(args.destination)
        since = datetime.now(UTC) - timedelta(days=args.days)
        print()
        print("\n".join(format_coverage(coverage_by_source(services.deliveries(destination_id, since)))))
    return code


def _validate_handler(args: argparse.Namespace, env: Ga4Environment, out: TextIO) -> int:
    settings = env.ga4_destination(args.destination)
    events = load_events_file(args.file)
    return validate_command(settings, events, lambda event: env.render(settings.id, event), out)


def _report_handler(args: argparse.Namespace, env: Ga4Environment, out: TextIO) -> int:
    settings = env.ga4_destination(args.destination)
    return report_command(
        settings,
        lambda window: env.delivered_counts(settings.id, window),
        args.days,
        out,
        lag_days=args.lag_days,
    )


def load_events_file(path: Path) -> list[CallEvent]:
    """Call events from a JSON file: one event, a list, or `{"events": [...]}`."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError([f"{path}: cannot read call events: {exc}"]) from None
    if isinstance(data, Mapping) and isinstance(data.get("events"), list):
        data = data["events"]
    items = data if isinstance(data, list) else [data]
    events, problems = [], []
    for index, item in enumerate(items):
        try:
            events.append(load_event(item))
        except Exception as exc:  # noqa: BLE001
            # marshmallow's ValidationError and type errors alike: reported per event, all at once.
            problems.append(f"{path}: event {index}: {exc}")
    if problems:
        raise ConfigError(problems)
    return events


def validate_command(
    settings: DestinationSettings,
    events: Sequence[CallEvent],
    render: Render,
    out: TextIO,
    *,
    session: requests.Session | None = None,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """Render, check locally, POST to /debug/mp/collect, print every message; 0 when all valid."""
    options = parse_options(settings.options)
    planner = Planner(options, settings.secret("client_id_salt"))
    transport = mp_transport(settings, options, session)
    now = (clock or (lambda: datetime.now(UTC)))()
    problems = 0
    drafts: list[tuple[EventRef, EventDraft]] = []
    for index, event in enumerate(events):
        label = f"{event.source or event.provider}:{event.provider_call_id}"
        plan = planner.plan(DeliveryItem(f"validate-{index}", event, event, tuple(render(event))))
        if isinstance(plan.outcome, Skipped):
            out.write(f"{label}: nothing to send ({plan.outcome.reason}: {plan.outcome.note})\n")
            continue
        if isinstance(plan.outcome, DeliveryError):
            out.write(f"{label}: refused ({plan.outcome.reason}): {plan.outcome.message}\n")
            problems += 1
            continue
        local = refusal(plan.drafts, now)
        if local is not None:
            out.write(f"{label}: would be refused before sending ({local.reason}): {local.message}\n")
            problems += 1
        drafts += [(EventRef(label, plan.key, draft.name), draft) for draft in plan.drafts]
    for request in pack_requests(drafts):
        names = ", ".join(f"{ref.name} ({ref.delivery_id})" for ref in request.refs)
        try:
            answer = transport.post(DEBUG_PATH, request.body)
        except MpTransportError as exc:
            out.write(f"validation server unreachable ({exc.kind}) at {transport.public_url(DEBUG_PATH)}\n")
            return 2
        if not answer.ok:
            out.write(f"validation server answered HTTP {answer.status}\n")
            return 2
        messages = _messages(answer.text)
        out.write(f"{transport.public_url(DEBUG_PATH)}: {names}: {'valid' if not messages else 'INVALID'}\n")
        for message in messages:
            out.write(
                f"  {message.get('validationCode')} {message.get('fieldPath')}: {message.get('description')}\n"
            )
        problems += len(messages)
    if not drafts and not problems:
        out.write("no GA4 events rendered for these calls\n")
    return 0 if problems == 0 else 1


def _messages(text: str) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        return [{"validationCode": "UNREADABLE", "fieldPath": "", "description": text[:200]}]
    messages = parsed.get("validationMessages", []) if isinstance(parsed, dict) else []
    return [message for message in messages if isinstance(message, dict)]


def report_command(
    settings: DestinationSettings,
    delivered: DeliveredCounts,
    days: int,
    out: TextIO,
    *,
    lag_days: int = DEFAULT_LAG_DAYS,
    client: BetaAnalyticsDataClient | None = None,
    today: date | None = None,
) -> int:
    """Print GA4's counts next to the hub's; 1 when GA4 is missing events past the lag, else 0."""
    # Here, not at the top: every `hub` command registers this module's commands.
    from google.api_core.exceptions import GoogleAPICallError

    from connectors.ga4.data_api import data_client, fetch_reported

    options = parse_options(settings.options)
    today = today or datetime.now(ZoneInfo(options.report_timezone)).date()
    window = report_window(days, today, options.report_timezone)
    try:
        reported = fetch_reported(
            client or data_client(settings),
            property_id(settings),
            window,
            options.report_events,
            options.report_source_dimension,
        )
    except GoogleAPICallError as exc:
        out.write(f"GA4 Data API error: HTTP {exc.code}: {exc.message}\n")
        return 2
    lines = reconcile(reported, delivered(window), today, lag_days)
    out.write(format_report(lines, window))
    return 1 if any(line.status == "missing" for line in lines) else 0
