"""One call engagement per call, then associated to the caller's contact once.

Where the portal lets the call key property have unique values, calls are upserted on it (so
`call.updated` and replays change the same engagement); where it does not, they are found by
remembered id or search and created only when absent (`call_search`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from connectors.base import Delivered, DeliveryError, PermanentError, RetryableError
from connectors.hubspot.api import BatchAnswer
from connectors.hubspot.call_search import SearchedCalls, call_state_key
from connectors.hubspot.capabilities import SEARCH, call_key_mode
from connectors.hubspot.capabilities import STATE_KEY as CAPABILITY_STATE_KEY
from connectors.hubspot.errors import is_non_unique_key
from connectors.hubspot.plan import CallPlan, Ledger, Sync, chunks, group_by
from connectors.hubspot.properties import call_properties

__all__ = ["CallSync", "call_state_key"]


def properties_for(plans: Sequence[CallPlan]) -> dict[str, str]:
    """The call as its latest delivery renders it (each delivery carries the call's merged state)."""
    latest = max(plans, key=lambda w: w.order)
    assert latest.call is not None
    return call_properties(latest.call.fields, latest.call.options, latest.item.call)


class CallSync(Sync):
    def run(self, plans: Sequence[CallPlan], ledger: Ledger) -> None:
        calls = group_by(ledger.open(w for w in plans if w.call is not None), lambda w: w.call_key)
        written = self._upsert(calls, ledger)
        self._associate(calls, written, ledger)
        for plan in ledger.open(plans):
            ids = {"contacts": plan.contact_id, "calls": plan.call_id}
            notes = [note for note in (plan.contact_note, plan.call_note) if note]
            if plan.contact is not None and plan.caller is None:
                notes.append("no usable caller number: no contact written")
            ledger.settle([plan], Delivered({k: v for k, v in ids.items() if v}, note="; ".join(notes)))

    def _properties(self, plans: Sequence[CallPlan]) -> dict[str, str]:
        return self.resolve_owner(properties_for(plans))

    def _upsert(self, calls: Mapping[str, list[CallPlan]], ledger: Ledger) -> dict[str, str]:
        """Call key -> engagement id, for the calls written."""
        if not calls:
            return {}
        try:
            mode = call_key_mode(self.api, self.context, self.options)
        except DeliveryError as error:
            ledger.settle([w for group in calls.values() for w in group], error)
            return {}
        if mode == SEARCH:
            return self._write_searched(calls, ledger)
        written: dict[str, str] = {}
        key_property = self.options.call_key_property
        for keys in chunks(sorted(calls)):
            properties: dict[str, dict[str, str]] = {}
            for key in keys:
                values = ledger.guarded(calls[key], partial(self._properties, calls[key]), self.classify)
                if values is not None:
                    properties[key] = values
            if not properties:
                continue
            group = [w for key in properties for w in calls[key]]
            answer = ledger.guarded(
                group, partial(self._upsert_batch, key_property, properties), self.classify
            )
            if answer is None:
                continue
            for key in properties:
                record = answer.records.get(key)
                if record is None:
                    ledger.settle(calls[key], answer.errors[key])
                    continue
                written[key] = record["id"]
                for plan in calls[key]:
                    plan.call_id = record["id"]
        return written

    def _upsert_batch(self, key_property: str, properties: Mapping[str, dict[str, str]]) -> BatchAnswer:
        try:
            return self.api.upsert_calls(key_property, properties)
        except Exception as exc:
            if not is_non_unique_key(exc):
                raise
            if self.options.call_idempotency == "unique_property":
                raise PermanentError(
                    f"HubSpot refused to upsert calls on {key_property!r}: it has no unique values on this "
                    "portal; set call_idempotency: auto (or search) and replay",
                    reason="config",
                ) from exc
            # The portal took unique values off the property (or never had them on calls):
            # forget the remembered mode; the retry asks the portal again and switches to search.
            self.context.put_state(CAPABILITY_STATE_KEY, {})
            raise RetryableError(
                f"HubSpot refused to upsert calls on {key_property!r}: it has no unique values on this "
                "portal; calls are written in search mode from the next attempt",
                reason="portal_changed",
                retry_after=1.0,
            ) from exc

    def _write_searched(self, calls: Mapping[str, list[CallPlan]], ledger: Ledger) -> dict[str, str]:
        properties: dict[str, dict[str, str]] = {}
        for key in sorted(calls):
            values = ledger.guarded(calls[key], partial(self._properties, calls[key]), self.classify)
            if values is not None:
                properties[key] = values
        searched = SearchedCalls(self.api, self.context, self.options, self.classify, self.resolve_owner)
        written = searched.write(calls, properties, ledger)
        for key, engagement in written.items():
            for plan in calls[key]:
                plan.call_id = engagement
        return written

    def _associate(
        self, calls: Mapping[str, list[CallPlan]], written: Mapping[str, str], ledger: Ledger
    ) -> None:
        pending: dict[str, str] = {}
        key_of: dict[str, str] = {}
        # Each key once, and nothing below writes a key before it is read.
        states = self.context.get_states(call_state_key(key) for key in written)
        for key, call_id in written.items():
            contact_id = next((w.contact_id for w in calls[key] if w.contact_id), None)
            state = states[call_state_key(key)] or {}
            if contact_id and (state.get("id") != call_id or state.get("contact") != contact_id):
                pending[call_id] = contact_id
                key_of[call_id] = key
            else:
                self.context.put_state(call_state_key(key), {"id": call_id, "contact": state.get("contact")})
        for call_ids in chunks(list(pending)):
            group = [w for call_id in call_ids for w in calls[key_of[call_id]]]
            failed = ledger.guarded(
                group,
                partial(self.api.associate_calls, {i: pending[i] for i in call_ids}),
                self.classify,
            )
            if failed is None:
                continue
            for call_id in call_ids:
                key = key_of[call_id]
                if call_id in failed:
                    ledger.settle(calls[key], failed[call_id])
                else:
                    self.context.put_state(call_state_key(key), {"id": call_id, "contact": pending[call_id]})
