"""Render a destination's mappings for one call (delivery, preview and checks share this)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

from connectors import registry as connector_registry
from hub.config import DestinationConfig, HubConfig
from hub.core.errors import ConfigError, HubError
from hub.core.events import CallEvent
from hub.core.records import RenderedRecord, Skip
from hub.mapping import Mapping, RenderError, load_mapping


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


def render_covering(
    mappings: Sequence[Mapping], call: CallEvent, kinds: Sequence[str]
) -> list[RenderedRecord | Skip]:
    """Render for a delivery that stands for versions of several kinds.

    A delivery into which a quick update was folded (settle window) carries the call's merged
    state, whose kind is the update's; a mapping for `call.completed` must still fire for it.
    Each mapping renders for the first covered kind it accepts; otherwise it reports why not for
    the delivery's own kind.
    """
    results: list[RenderedRecord | Skip] = []
    try:
        for mapping in mappings:
            first: RenderedRecord | Skip | None = None
            for kind in kinds:
                rendered = mapping.render(dataclasses.replace(call, kind=kind))
                first = first or rendered
                if isinstance(rendered, RenderedRecord):
                    first = rendered
                    break
            if first is not None:
                results.append(first)
    except RenderError as exc:
        raise RenderFailed(exc.message) from exc
    return results


def mapping_files_version(config: HubConfig, destination: DestinationConfig) -> str:
    """A short content hash of a destination's mapping files: which version rendered a delivery."""
    digest = hashlib.sha256()
    for relative in destination.mappings:
        digest.update(relative.encode() + b"\0")
        try:
            digest.update(mapping_path(config, relative).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()[:16]


class MappingCache:
    """Mappings loaded once per configuration; workers swap in a new cache when files change."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self._loaded: dict[str, list[Mapping]] = {}
        self._versions: dict[str, str] = {}

    def get(self, destination: DestinationConfig) -> list[Mapping]:
        if destination.id not in self._loaded:
            version = mapping_files_version(self.config, destination)
            self._loaded[destination.id] = load_destination_mappings(self.config, destination)
            self._versions[destination.id] = version
        return self._loaded[destination.id]

    def version(self, destination: DestinationConfig) -> str:
        """The content hash of the mapping files `get` returned for this destination."""
        self.get(destination)
        return self._versions[destination.id]

    def load_all(self) -> None:
        """Load every destination's mappings now; raises ConfigError listing every problem."""
        problems: list[str] = []
        for destination in self.config.destinations.values():
            try:
                self.get(destination)
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)
