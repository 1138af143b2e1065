"""What a mapping renders for one call: the record or event a connector writes.

Shared by the mapping engine (which produces them) and connectors (which send them), so neither
imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RenderedRecord:
    """One destination object or event, rendered from a call by one mapping file."""

    #: The mapping file that produced it, as configured (shown in history and errors).
    mapping: str
    #: What it writes: a Salesforce object ("Lead"), a HubSpot object ("contacts"), a GA4 event
    #: name ("phone_call"), or "event" for the webhook destination.
    target: str
    #: Destination field -> JSON-ready value (str, int, float, bool, None, list, dict).
    fields: Mapping[str, Any]
    #: Names of fields in `fields` that identify the record (lookup / upsert keys), in order.
    match: tuple[str, ...] = ()
    #: Per-mapping connector options (validated by the connector), e.g. a duplicate policy.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    """A mapping chose not to render for this call, and why (`events`, `when: call.duration_s gte 60`)."""

    mapping: str
    reason: str
