"""Which call last set each field of a caller's CRM record, so every call's outcome lands where it may.

A caller rings (A, answered), rings again (B, missed), then the provider marks A a good lead. One
timestamp per caller would refuse A's outcome because B is newer; but B never set the lead status.
So the hub keeps, per CRM record and per field, the time and call of the value it last wrote: a
call's value is written unless a *newer call* set that same field. A later version of the same call
(its outcome edited again) always may. Shared by the Salesforce and HubSpot connectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class StateStore(Protocol):
    """The part of a connector context provenance needs (durable per-destination state)."""

    def get_state(self, key: str) -> dict[str, Any] | None: ...

    def get_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]: ...

    def put_state(self, key: str, value: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Origin:
    """The call a value came from: when it happened (ISO 8601, UTC) and its stable key."""

    at: str
    call: str

    def overrides(self, other: Origin | None) -> bool:
        """May a value from this call replace one `other` wrote? Not if `other` is a newer call."""
        return other is None or self.call == other.call or self.at >= other.at


def state_key(sobject: str, record_id: str) -> str:
    digest = hashlib.sha256(f"{sobject}:{record_id}".encode()).hexdigest()[:32]
    return f"provenance:{digest}"


class FieldProvenance:
    """Per record: field name -> the Origin of the value the hub last wrote there."""

    def __init__(
        self,
        state: StateStore,
        sobject: str,
        record_id: str,
        stored: Mapping[str, Any] | None = None,
    ) -> None:
        """`stored`: the record's state already read (see `read_many`); None reads it now."""
        self.state = state
        self.key = state_key(sobject, record_id)
        if stored is None:
            stored = state.get_state(self.key) or {}
        fields = stored.get("fields") or {}
        self.fields: dict[str, Origin] = {
            name: Origin(str(entry[0]), str(entry[1]))
            for name, entry in fields.items()
            if isinstance(entry, list) and len(entry) == 2
        }
        #: True when the hub has never noted a field of this record (created before provenance).
        self.empty = not self.fields
        #: Stands for every field not noted yet (a record written before provenance was kept).
        self.floor: Origin | None = None

    @classmethod
    def read_many(
        cls, state: StateStore, sobject: str, record_ids: Iterable[str]
    ) -> dict[str, FieldProvenance]:
        """Record id -> its provenance, every record's state read in one query."""
        keys = {record_id: state_key(sobject, record_id) for record_id in record_ids}
        stored = state.get_states(keys.values())
        return {
            record_id: cls(state, sobject, record_id, stored[key] or {}) for record_id, key in keys.items()
        }

    def admits(self, name: str, origin: Origin) -> bool:
        return origin.overrides(self.fields.get(name) or self.floor)

    def admitted(self, values: Mapping[str, Any], origin: Origin) -> tuple[dict[str, Any], list[str]]:
        """(the values this call may write, the names a newer call holds)."""
        kept = {name: value for name, value in values.items() if self.admits(name, origin)}
        return kept, sorted(name for name in values if name not in kept)

    def note(self, names: Iterable[str], origin: Origin) -> None:
        for name in names:
            if self.admits(name, origin):
                self.fields[name] = origin

    def save(self) -> None:
        body = {name: [origin.at, origin.call] for name, origin in sorted(self.fields.items())}
        self.state.put_state(self.key, {"fields": body})


def merge_by_field(
    bodies: Iterable[tuple[Origin, Mapping[str, Any]]], provenance: FieldProvenance
) -> tuple[dict[str, Any], dict[str, Origin], set[str]]:
    """Several calls' values for one record, oldest call first: per field the newest admitted value.

    Returns (body to write, origin of each written field, names some call had to leave alone).
    """
    body: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    refused: set[str] = set()
    for origin, values in sorted(bodies, key=lambda pair: (pair[0].at, pair[0].call)):
        for name, value in values.items():
            if not provenance.admits(name, origin):
                refused.add(name)
                continue
            current = origins.get(name)
            if origin.overrides(current):
                body[name], origins[name] = value, origin
    return body, origins, refused


def record_written(provenance: FieldProvenance, origins: Mapping[str, Origin]) -> None:
    """After a successful write: note where each written value came from, and persist."""
    for name, origin in origins.items():
        provenance.note([name], origin)
    provenance.save()
