"""`hub preview`: what each destination would be sent for an event, without sending anything."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select

from connectors import registry as connector_registry
from connectors.base import DeliveryError, DeliveryItem, MemoryContext
from hub.config import DestinationConfig, HubConfig
from hub.core.errors import ConfigError, NotACall, ParseError
from hub.core.events import CallEvent, dump_event, load_event
from hub.core.records import RenderedRecord, Skip
from hub.deliver import history_fields
from hub.mapping import Mapping, diff_records, load_mapping
from hub.render import RenderFailed, load_destination_mappings, render_all
from hub.runtime import connector_settings, load_hub_config
from hub.samples import request_from_file
from hub.settings import Settings
from hub.store.db import Database
from hub.store.models import Call, Delivery
from hub.time_filters import TimeFilterError, parse_time
from webhooks import registry as provider_registry
from webhooks.base import SourceSettings

#: Where sandbox destinations point in a preview (nothing is contacted).
PREVIEW_SANDBOX_URL = "http://sandbox.invalid"


class PreviewProblem(Exception):
    pass


def parse_payload(settings: Settings, config: HubConfig, source_id: str, path: Path) -> list[CallEvent]:
    """A provider payload file, normalized as the source's provider would (sending nothing)."""
    source = config.sources.get(source_id)
    if source is None:
        raise PreviewProblem(f"no source {source_id!r}; configured: {', '.join(config.sources)}")
    provider = provider_registry.create(
        source.provider,
        SourceSettings(source.id, source.default_region, dict(source.options)),
        settings.mappings_dir,
    )
    try:
        return provider.normalize(request_from_file(path, f"http://localhost/webhooks/{source.id}"))
    except NotACall as exc:
        raise PreviewProblem(f"{path}: ignored, not a call: {exc.message}") from exc
    except (ParseError, OSError) as exc:
        raise PreviewProblem(f"{path}: {getattr(exc, 'message', exc)}") from exc


def load_events(path: Path) -> list[CallEvent]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PreviewProblem(f"{path}: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    events = []
    for index, item in enumerate(items):
        try:
            events.append(load_event(item))
        except ValidationError as exc:
            raise PreviewProblem(
                f"{path}: item {index} is not a normalized event ({exc.messages}); for a provider payload pass --source"
            ) from exc
    return events


def _targets(config: HubConfig, name: str, event: CallEvent) -> list[DestinationConfig]:
    if name != "all":
        if name not in config.destinations:
            raise PreviewProblem(f"no destination {name!r}; configured: {', '.join(config.destinations)}")
        return [config.destinations[name]]
    if event.source in config.sources:
        return [config.destinations[d] for d in config.destinations_for(event.source)]
    return [d for d in config.destinations.values() if d.enabled]


def preview_destination(
    config: HubConfig, destination: DestinationConfig, event: CallEvent
) -> dict[str, Any]:
    cls = connector_registry.connector_class(destination.type)
    settings = connector_settings(destination, PREVIEW_SANDBOX_URL if destination.sandbox else None)
    report: dict[str, Any] = {"destination": destination.id, "type": destination.type}
    report["mode"] = "sandbox" if destination.sandbox else "live"
    try:
        rendered = render_all(load_destination_mappings(config, destination), event)
    except RenderFailed as exc:
        return {**report, "error": exc.message}
    records = [r for r in rendered if isinstance(r, RenderedRecord)]
    report["skipped"] = [asdict(s) for s in rendered if isinstance(s, Skip)]
    report["records"] = [
        {"mapping": r.mapping, "target": r.target, "fields": dict(r.fields)} for r in records
    ]
    if rendered and not records:
        report["requests"] = []
        return report
    item = DeliveryItem("dlv_preview", event, event, records)
    try:
        report["requests"] = [asdict(p) for p in cls(settings, MemoryContext()).preview(item)]
    except DeliveryError as exc:
        # What the connector would refuse before sending is part of the answer, not a crash.
        report["requests"] = []
        report["refused"] = {"reason": exc.reason, "message": exc.message}
    return report


def preview_file(
    settings: Settings, destination: str, path: Path, source_id: str | None = None
) -> list[dict[str, Any]]:
    try:
        config = load_hub_config(settings, generate_secrets=False)
    except ConfigError as exc:
        raise PreviewProblem("\n".join(exc.problems)) from exc
    events = parse_payload(settings, config, source_id, path) if source_id else load_events(path)
    output = []
    for event in events:
        output.append(
            {
                "event": {
                    "id": event.id,
                    "source": event.source,
                    "kind": event.kind,
                    "call": dump_event(event)["call"],
                },
                "destinations": [
                    preview_destination(config, d, event) for d in _targets(config, destination, event)
                ],
            }
        )
    return output


# --- Re-rendering what was sent with a candidate mapping --------------------------------------


def since_time(text: str, now: datetime | None = None) -> datetime:
    """The start of the window of calls to re-render, in the hub's one time grammar."""
    try:
        return parse_time(text, now=now, name="--since")
    except TimeFilterError as exc:
        raise PreviewProblem(str(exc)) from exc


def _with_candidate(current: list[Mapping], candidate: Mapping) -> list[Mapping]:
    """The destination's mappings with the candidate in place of the file it replaces (same file
    name, else same target), or added when it replaces none."""
    name = Path(candidate.path).name
    for index, mapping in enumerate(current):
        if Path(mapping.path).name == name or mapping.target == candidate.target:
            return [*current[:index], candidate, *current[index + 1 :]]
    return [*current, candidate]


def _sent_records(stored: list[Any] | None) -> list[RenderedRecord | Skip]:
    return [
        RenderedRecord(
            r["mapping"], r["target"], r.get("fields", {}), tuple(r.get("match", ())), r.get("options", {})
        )
        for r in stored or []
    ]


def _comparable(stored: list[Any] | None, rendered: list[RenderedRecord]) -> list[RenderedRecord]:
    """The candidate's records as history stored them: hashed fields masked, and options left
    out when the stored records predate keeping them (else every call would show a change)."""
    with_options = all("options" in r for r in stored or [])
    return [
        dataclasses.replace(r, fields=history_fields(r.fields), options=r.options if with_options else {})
        for r in rendered
    ]


def preview_candidate(
    settings: Settings, destination_id: str, candidate_path: Path, since: datetime
) -> dict[str, Any]:
    """Per call delivered since `since`: how the candidate mapping changes what was sent."""
    try:
        config = load_hub_config(settings, generate_secrets=False)
    except ConfigError as exc:
        raise PreviewProblem("\n".join(exc.problems)) from exc
    destination = config.destinations.get(destination_id)
    if destination is None:
        raise PreviewProblem(
            f"no destination {destination_id!r}; configured: {', '.join(config.destinations)}"
        )
    connector = connector_registry.connector_class(destination.type)
    try:
        candidate = load_mapping(candidate_path, connector=connector)
        mappings = _with_candidate(load_destination_mappings(config, destination), candidate)
    except ConfigError as exc:
        raise PreviewProblem("\n".join(exc.problems)) from exc
    db = Database(settings.database_url)
    changes: list[dict[str, Any]] = []
    compared = 0
    try:
        with db.read_session() as session:
            rows = session.execute(
                select(Delivery, Call)
                .join(Call, Call.id == Delivery.call_id)
                .where(Delivery.destination == destination_id, Delivery.created_at >= since)
                .where(Delivery.records.is_not(None))
                .order_by(Delivery.created_at)
            ).all()
            latest = {call.id: (delivery, call) for delivery, call in rows}
            for delivery, call in latest.values():
                compared += 1
                try:
                    new = render_all(mappings, load_event(call.state))
                except RenderFailed as exc:
                    changes.append(
                        {"call_id": call.id, "delivery_id": delivery.id, "lines": [f"! {exc.message}"]}
                    )
                    continue
                old = _sent_records(delivery.records)
                rendered = _comparable(delivery.records, [r for r in new if isinstance(r, RenderedRecord)])
                lines = diff_records(old, rendered)
                if lines:
                    changes.append(
                        {
                            "call_id": call.id,
                            "source": call.source,
                            "provider_call_id": call.provider_call_id,
                            "delivery_id": delivery.id,
                            "status": delivery.status,
                            "lines": lines,
                        }
                    )
    finally:
        db.dispose()
    return {
        "destination": destination_id,
        "candidate": str(candidate_path),
        "since": since.isoformat(),
        "calls_compared": compared,
        "calls_changed": len(changes),
        "changes": changes,
    }
