"""A call's current state from its versions: newest known value wins, blanks never erase.

Versions are applied in lifecycle order (started < completed < updated), then by time, so a
`call.started` that arrives after the call completed cannot reopen it, and a sparse update (a
tag, a value) only adds what it knows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from hub.core.events import KIND_RANK, CallEvent


def call_id(source: str, provider_call_id: str) -> str:
    digest = hashlib.sha256(f"{source}\x00{provider_call_id}".encode()).hexdigest()
    return f"call_{digest[:24]}"


def _overlay(base: Any, newer: Any) -> Any:
    if dataclasses.is_dataclass(base) and dataclasses.is_dataclass(newer):
        changes = {
            f.name: _overlay(getattr(base, f.name), getattr(newer, f.name)) for f in dataclasses.fields(base)
        }
        return dataclasses.replace(base, **changes)  # type: ignore[type-var]
    if isinstance(base, Mapping) and isinstance(newer, Mapping):
        return {**base, **newer}
    return base if newer is None else newer


def order_key(event: CallEvent) -> tuple[int, float]:
    return (KIND_RANK.get(event.kind, 0), event.occurred_at.timestamp())


def merge(versions: Iterable[CallEvent]) -> CallEvent:
    """The merged call; its `id` is the call id and its `kind` the furthest lifecycle stage seen."""
    ordered = sorted(versions, key=order_key)
    if not ordered:
        raise ValueError("a call needs at least one version")
    state = ordered[0]
    for version in ordered[1:]:
        state = _overlay(state, version)
    latest = max(ordered, key=lambda event: event.occurred_at)
    return dataclasses.replace(
        state,
        id=call_id(state.source, state.provider_call_id),
        kind=ordered[-1].kind,
        occurred_at=latest.occurred_at,
        # Every version's warnings stay visible on the call, whichever version won a field.
        warnings=tuple(dict.fromkeys(w for version in ordered for w in version.warnings)),
    )
