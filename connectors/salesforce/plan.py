"""One call's work at Salesforce, read from what the mappings rendered, and filled in while sending."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Final

from connectors.base import Delivered, DeliveryError, DeliveryItem, Held, ItemOutcome, Skipped
from connectors.provenance import Origin
from connectors.salesforce.lookup import Person
from hub.core import phones
from hub.core.records import RenderedRecord

LEAD_DEFAULTS: Final = {"LastName": "Unknown caller", "Company": "[not provided]"}
#: Fields Salesforce accepts on create only; left out whenever the record may already exist.
CREATE_ONLY: Final = {"Task": frozenset({"TaskSubtype"})}


def is_hub_field(name: str) -> bool:
    """Lower-case names are the connector's own inputs (owner_email, campaign_name), never sent."""
    return name[:1].islower()


def sendable(fields: Mapping[str, Any], drop: Iterable[str] = ()) -> dict[str, Any]:
    dropped = set(drop)
    return {k: v for k, v in fields.items() if v is not None and not is_hub_field(k) and k not in dropped}


@dataclass
class CallPlan:
    item: DeliveryItem
    number: str | None
    records: dict[str, RenderedRecord]
    who: Person | None = None
    owner_id: str | None = None
    written: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: DeliveryError | None = None
    held: Held | None = None

    @property
    def call_time(self) -> str:
        """When the call happened (ISO, UTC): orders a caller's calls, newest "last call" wins."""
        call = self.item.call
        return (call.call.started_at or call.occurred_at).astimezone(UTC).isoformat()

    @property
    def call_key(self) -> str:
        call = self.item.call
        return f"{call.source}:{call.provider_call_id}"

    @property
    def origin(self) -> Origin:
        """Where this call's values come from, for field-level provenance."""
        return Origin(self.call_time, self.call_key)

    def record(self, target: str) -> RenderedRecord | None:
        return self.records.get(target)

    def fail(self, error: DeliveryError) -> None:
        if self.error is None:
            self.error = error

    @property
    def active(self) -> bool:
        return self.error is None and self.held is None

    def outcome(self) -> ItemOutcome:
        if self.error is not None:
            return self.error
        if self.held is not None:
            return self.held
        if not self.records:
            return Skipped("no_records", note="no Salesforce mapping applies to this call")
        return Delivered(dict(self.written), note="; ".join(self.notes))


def build_plan(item: DeliveryItem, region: str) -> CallPlan:
    records: dict[str, RenderedRecord] = {}
    for record in item.records:
        records.setdefault(record.target, record)
    return CallPlan(item, caller_number(item, records.values(), region), records)


def caller_number(item: DeliveryItem, records: Iterable[RenderedRecord], region: str) -> str | None:
    """The caller's E.164: from the event, else from a person mapping's match fields."""
    number = phones.e164(item.call.caller.number, region)
    if number:
        return number
    for record in records:
        if record.target in ("Lead", "Contact"):
            for name in record.match:
                number = phones.e164(record.fields.get(name), region)
                if number:
                    return number
    return None


def create_only(record: RenderedRecord) -> set[str]:
    names = record.options.get("create_only") or []
    return {*names, *record.match, *CREATE_ONLY.get(record.target, ())}


def lead_body(values: Mapping[str, Any], owner_id: str | None) -> dict[str, Any]:
    """A new Lead's body: the mapped values plus what Salesforce requires and the owner."""
    body = dict(values)
    for name, default in LEAD_DEFAULTS.items():
        if not body.get(name):
            body[name] = default
    if owner_id and "OwnerId" not in body:
        body["OwnerId"] = owner_id
    return body


def with_type(sobject: str, body: Mapping[str, Any], record_id: str | None = None) -> dict[str, Any]:
    typed: dict[str, Any] = {"attributes": {"type": sobject}, **body}
    if record_id:
        typed["id"] = record_id
    return typed


def without_task(error: DeliveryError, why: str) -> DeliveryError:
    """`error` saying that the call's Task was not written because of it (and will be on retry)."""
    message = f"{why}: {error.message}; the call's Task was not written (it is, once this succeeds)"
    return type(error)(message, reason=error.reason, retry_after=error.retry_after, details=error.details)
