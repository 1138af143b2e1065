"""`hub preview`: what each destination would be sent for an event, without sending anything."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from connectors import registry as connector_registry
from connectors.base import DeliveryItem, DestinationSettings, MemoryContext
from hub.config import DestinationConfig, HubConfig
from hub.errors import ConfigError
from hub.events import CallEvent, dump_event, load_event
from hub.records import RenderedRecord, Skip
from hub.render import RenderFailed, load_destination_mappings, render_all
from hub.runtime import load_hub_config
from hub.settings import Settings

#: Where sandbox destinations point in a preview (nothing is contacted).
PREVIEW_SANDBOX_URL = "http://sandbox.invalid"


class PreviewProblem(Exception):
    pass


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
                f"{path}: item {index} is not a normalized event ({exc.messages}); run `hub normalize` on provider payloads first"
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
    settings = DestinationSettings(
        id=destination.id,
        type=destination.type,
        credentials=destination.credentials,
        options=destination.options,
        sandbox_url=PREVIEW_SANDBOX_URL if destination.sandbox else None,
        timeout_s=destination.timeout_s,
    )
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
    report["requests"] = [asdict(p) for p in cls(settings, MemoryContext()).preview(item)]
    return report


def preview_file(settings: Settings, destination: str, path: Path) -> list[dict[str, Any]]:
    try:
        config = load_hub_config(settings, generate_secrets=False)
    except ConfigError as exc:
        raise PreviewProblem("\n".join(exc.problems)) from exc
    output = []
    for event in load_events(path):
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
