"""A call's merged state as stored: worked out before the write transaction, checked under it.

Merging a call's versions and serializing the result is most of the CPU a chunk of receipts
spends in its write transaction, and on SQLite that transaction holds the one write lock every
other worker and web process waits for. So a chunk's merges are worked out first, from the
versions stored when the chunk is read; under the lock only the ids of the stored versions are
read (in the same query as which versions are stored already: hub.version_store), and a call
whose versions changed meanwhile (another worker stored one, a receipt of the chunk failed or was
dropped) is merged again there, from what the transaction sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from hub.core.events import CallEvent, dump_event, load_event
from hub.merge import call_id, merge
from hub.store.models import EVENTS


def call_of(event: CallEvent) -> str:
    return call_id(event.source, event.provider_call_id)


@dataclass(frozen=True)
class MergedCall:
    """A call's state from the versions `stored` (ids) and the `added` ones on top, in order."""

    stored: frozenset[str]
    added: tuple[str, ...]
    #: The call row's values that follow from its versions (`state`, `kind`, ...).
    values: dict[str, Any]

    def holds(self, stored: frozenset[str], added: Sequence[str]) -> bool:
        """Whether this merge is the one of `stored` and `added`, as the transaction sees them."""
        return self.stored == stored and self.added == tuple(added)


def _merged_values(versions: Iterable[CallEvent]) -> dict[str, Any]:
    versions = list(versions)
    merged = merge(versions)
    return {
        "b_state": dump_event(merged),
        "b_kind": merged.kind,
        "b_caller_number": merged.caller.number,
        "b_version_count": len(versions),
    }


def stored_versions(connection: Connection, keys: Iterable[str]) -> dict[str, dict[str, CallEvent]]:
    """Per call id: its stored versions by event id."""
    found: dict[str, dict[str, CallEvent]] = {key: {} for key in keys}
    if found:
        query = select(EVENTS.c.call_id, EVENTS.c.id, EVENTS.c.payload).where(
            EVENTS.c.call_id.in_(sorted(found))
        )
        for key, event_id, payload in connection.execute(query):
            found[key][event_id] = load_event(payload)
    return found


def merge_versions(earlier: Mapping[str, CallEvent], added: Sequence[CallEvent]) -> dict[str, Any]:
    """The call row's values from its stored versions (by event id) and the ones added."""
    # By event id, so the same versions always merge in the same order (ties in time included).
    return _merged_values([*(earlier[event_id] for event_id in sorted(earlier)), *added])


def merge_ahead(connection: Connection, events: Sequence[CallEvent]) -> dict[str, MergedCall]:
    """The merged state of each call of `events`, from what `connection` reads now; the events
    stored already are not added again (as storing them would not)."""
    by_call: dict[str, list[CallEvent]] = {}
    for event in events:
        by_call.setdefault(call_of(event), []).append(event)
    earlier = stored_versions(connection, by_call)
    merged: dict[str, MergedCall] = {}
    for key, candidates in by_call.items():
        seen = set(earlier[key])
        added = []
        for event in candidates:
            if event.id not in seen:
                seen.add(event.id)
                added.append(event)
        if added:
            merged[key] = MergedCall(
                frozenset(earlier[key]),
                tuple(event.id for event in added),
                merge_versions(earlier[key], added),
            )
    return merged
