"""`hub check`: everything that can be wrong before the hub starts, listed at once.

Offline: hub.yaml, provider definitions, connector options and every mapping file. Online
(`--online`): each destination's credentials and the live schema of every mapping target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors import registry as connector_registry
from hub.config import HubConfig
from hub.core.errors import ConfigError
from hub.mapping import lint_against_schema
from hub.render import load_destination_mappings
from hub.runtime import Runtime, load_hub_config
from hub.settings import Settings
from webhooks import registry as provider_registry
from webhooks.base import SourceSettings


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_offline(
    settings: Settings, *, generate_secrets: bool = True
) -> tuple[HubConfig | None, CheckReport]:
    report = CheckReport()
    try:
        config = load_hub_config(settings, generate_secrets=generate_secrets)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return None, report
    for source in config.sources.values():
        try:
            provider_registry.create(
                source.provider,
                SourceSettings(source.id, source.default_region, dict(source.options)),
                settings.mappings_dir,
            )
        except ConfigError as exc:
            report.problems.extend(f"source {source.id!r}: {problem}" for problem in exc.problems)
        if source.insecure:
            report.notes.append(f"source {source.id!r} accepts unsigned deliveries (insecure: true)")
    for destination in config.destinations.values():
        if destination.sandbox and destination.enabled:
            report.notes.append(f"destination {destination.id!r} runs in sandbox mode (a local fake)")
        cls = connector_registry.connector_class(destination.type)
        report.problems.extend(
            f"{config.path}: destination {destination.id!r}: {problem}"
            for problem in cls.option_problems(destination.options)
        )
        report.notes.extend(
            f"destination {destination.id!r}: warning: {note}"
            for note in cls.option_notes(destination.options)
        )
        report.problems.extend(
            f"{config.path}: destination {destination.id!r}: sandbox: {problem}"
            for problem in cls.sandbox_problems(destination.sandbox_options)
        )
        try:
            load_destination_mappings(config, destination)
        except ConfigError as exc:
            report.problems.extend(exc.problems)
    return config, report


def check_online(runtime: Runtime, report: CheckReport) -> None:
    for destination in runtime.config.destinations.values():
        connector = runtime.connector(destination.id)
        result = connector.check()
        mode = "sandbox" if destination.sandbox else "live"
        if result.ok:
            report.notes.append(f"destination {destination.id!r} ({mode}): {result.detail}")
        else:
            report.problems.append(f"destination {destination.id!r} ({mode}): {result.detail}")
        report.problems.extend(f"destination {destination.id!r}: {p}" for p in result.problems)
        for mapping in runtime.mappings.get(destination):
            schema = connector.describe(mapping.target)
            if schema is None:
                continue
            report.problems.extend(lint_against_schema(mapping, schema))
