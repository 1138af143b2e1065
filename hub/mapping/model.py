"""A loaded, validated mapping file and how it renders one call into a record.

Loading (`hub.mapping.loader`) guarantees the shape; rendering only reads the event, runs the
transforms and leaves out every field that has no value, so an update never blanks a CRM field
the call knows nothing about.
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from hub.core.errors import HubError
from hub.core.events import KIND_UNKNOWN, KINDS, CallEvent, get_path
from hub.core.records import RenderedRecord, Skip
from hub.mapping.conditions import Condition, first_failing, is_missing
from hub.mapping.transforms import Step, TransformError, iso_datetime, run_steps

#: Kinds a mapping reacts to when it has no `events:` list.
DEFAULT_EVENTS = frozenset(kind for kind in KINDS if kind != KIND_UNKNOWN)


class RenderError(HubError):
    """A mapping could not render a call (a required field has no value, a custom value misfits)."""

    reason = "mapping"


@dataclass(frozen=True)
class FieldRule:
    """How one destination field gets its value."""

    name: str
    #: Fallback chain of event paths; empty for a constant.
    sources: tuple[str, ...] = ()
    #: The constant when `sources` is empty (`value:` in YAML).
    value: Any = None
    steps: tuple[Step, ...] = ()
    default: Any = None
    required: bool = False
    #: Line of the field in its file (lint messages point at it).
    line: int = 0

    @property
    def is_constant(self) -> bool:
        return not self.sources

    def resolve(self, event: CallEvent) -> Any:
        """The first source whose transformed value is not missing, else the default."""
        if self.is_constant:
            return self.value
        for path in self.sources:
            raw = get_path(event, path)
            if is_missing(raw):
                continue
            result = run_steps(self.steps, raw)
            if not is_missing(result):
                return result
        return self.default


# Identity equality: a mapping holds dicts (options, map vocabularies) and is never a dict key by value.
@dataclass(frozen=True, eq=False)
class Mapping:
    """One mapping file: what it writes, for which calls, and how each field is filled."""

    path: str
    target: str
    events: frozenset[str] = DEFAULT_EVENTS
    match: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    #: `object` (CRM records) or `event` (GA4 events), as the file says.
    target_key: Literal["object", "event"] = "object"
    #: The folder the file sits in under `mappings/` (`salesforce`, `ga4`...), "" when not known.
    destination_type: str = ""
    when: tuple[Condition, ...] = ()
    fields: tuple[FieldRule, ...] = ()
    #: Line of each top-level key (`object`, `options`, ...), for messages about the whole file.
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def applies_to(self, event: CallEvent) -> Skip | None:
        """None when the mapping renders this call, else the Skip saying why not."""
        if event.kind not in self.events:
            return Skip(self.path, f"events: {event.kind} is not one of {', '.join(sorted(self.events))}")
        failing = first_failing(self.when, event)
        if failing is not None:
            return Skip(self.path, f"when: {failing.describe()}")
        return None

    def render(self, event: CallEvent) -> RenderedRecord | Skip:
        """The record this mapping writes for the call, or why it writes none."""
        skip = self.applies_to(event)
        if skip is not None:
            return skip
        values: dict[str, Any] = {}
        for rule in self.fields:
            try:
                value = rule.resolve(event)
            except TransformError as exc:
                raise RenderError(f"{self.path}:{rule.line}: fields.{rule.name}: {exc}") from exc
            if is_missing(value):
                if rule.required:
                    raise RenderError(
                        f"{self.path}:{rule.line}: fields.{rule.name}: required but the call has no value for "
                        f"{' / '.join(rule.sources) or 'it'}"
                    )
                continue
            values[rule.name] = json_ready(value)
        present_keys = tuple(name for name in self.match if name in values)
        return RenderedRecord(self.path, self.target, values, present_keys, dict(self.options))


def json_ready(value: Any) -> Any:
    """Event values as JSON: times as ISO 8601 UTC, decimals as exact text, tuples as lists."""
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, AbcMapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    return value
