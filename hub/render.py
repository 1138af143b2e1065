"""Render a destination's mappings for one call (delivery, preview and checks share this)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from connectors import registry as connector_registry
from hub.config import DestinationConfig, HubConfig
from hub.errors import ConfigError, HubError
from hub.events import CallEvent
from hub.mapping import Mapping, RenderError, load_mapping
from hub.records import RenderedRecord, Skip


class RenderFailed(HubError):
    reason = "mapping"


def mapping_path(config: HubConfig, relative: str) -> Path:
    """Mapping files are named relative to the folder that holds hub.yaml."""
    path = Path(relative)
    return path if path.is_absolute() else config.path.parent / path


def load_destination_mappings(config: HubConfig, destination: DestinationConfig) -> list[Mapping]:
    connector = connector_registry.connector_class(destination.type)
    mappings: list[Mapping] = []
    problems: list[str] = []
    for relative in destination.mappings:
        try:
            mappings.append(
                load_mapping(mapping_path(config, relative), display_path=relative, connector=connector)
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return mappings


def render_all(mappings: Sequence[Mapping], call: CallEvent) -> list[RenderedRecord | Skip]:
    try:
        return [mapping.render(call) for mapping in mappings]
    except RenderError as exc:
        raise RenderFailed(exc.message) from exc


class MappingCache:
    """Mappings are read once per process; `hub check` validates them before anything starts."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self._loaded: dict[str, list[Mapping]] = {}

    def get(self, destination: DestinationConfig) -> list[Mapping]:
        if destination.id not in self._loaded:
            self._loaded[destination.id] = load_destination_mappings(self.config, destination)
        return self._loaded[destination.id]
