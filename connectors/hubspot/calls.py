"""One call engagement per call: upserted on a unique call-id property (so `call.updated` and replays
change the same engagement), then associated to the caller's contact once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from connectors.base import Delivered
from connectors.hubspot.plan import CallPlan, Ledger, Sync, chunks, group_by
from connectors.hubspot.properties import call_properties


def call_state_key(call_key: str) -> str:
    return f"call:{call_key}"


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
            notes = [plan.contact_note] if plan.contact_note else []
            if plan.contact is not None and plan.caller is None:
                notes.append("no usable caller number: no contact written")
            ledger.settle([plan], Delivered({k: v for k, v in ids.items() if v}, note="; ".join(notes)))

    def _properties(self, plans: Sequence[CallPlan]) -> dict[str, str]:
        return self.resolve_owner(properties_for(plans))

    def _upsert(self, calls: Mapping[str, list[CallPlan]], ledger: Ledger) -> dict[str, str]:
        """Call key -> engagement id, for the calls written."""
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
                group, partial(self.api.upsert_calls, key_property, properties), self.classify
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

    def _associate(
        self, calls: Mapping[str, list[CallPlan]], written: Mapping[str, str], ledger: Ledger
    ) -> None:
        pending: dict[str, str] = {}
        key_of: dict[str, str] = {}
        for key, call_id in written.items():
            contact_id = next((w.contact_id for w in calls[key] if w.contact_id), None)
            state = self.context.get_state(call_state_key(key)) or {}
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
