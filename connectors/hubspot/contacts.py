"""Bring each caller's contact up to date: find it (memory, then search), apply the duplicate policy,
then write every caller of the batch with one batch update and one batch upsert per 100.

Never a duplicate: the caller's numbers are locked by the connector around this step, ids the hub
wrote are remembered (search indexes lag), and new contacts are upserted on a unique property
keyed by the E.164 number, so a replay finds what an interrupted attempt created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any, Final

from connectors.base import DeliveryError, Held, RetryableError
from connectors.hubspot.api import TooManyResults
from connectors.hubspot.lookup import (
    MAX_RESULTS,
    most_recent,
    numbers_held,
    plan_searches,
    search_properties,
    split,
)
from connectors.hubspot.outcomes import ContactOutcomes
from connectors.hubspot.phones import PHONE_PROPERTIES
from connectors.hubspot.plan import CallPlan, Ledger, Sync, chunks, group_by
from connectors.hubspot.properties import stage_allowed, text_properties
from hub.core.phones import caller_key


def contact_state_key(e164: str) -> str:
    return f"contact:{caller_key(e164)}"


#: When the call whose attribution a contact holds happened: an older call never overwrites it.
LAST_CALL_PROPERTY: Final = "callhub_last_call_at"
#: What a found contact is read with: enough to apply the stage, match and last-call rules.
READ_PROPERTIES: Final = ("lifecyclestage", LAST_CALL_PROPERTY, *PHONE_PROPERTIES)


def call_time(plan: CallPlan) -> tuple[datetime, datetime, int]:
    """Orders a caller's deliveries by when the call happened (then by version): newest last."""
    call = plan.item.call
    return (call.call.started_at or call.occurred_at, plan.item.trigger.occurred_at, plan.item.attempt)


@dataclass
class CallerValues:
    """One caller's properties from all its deliveries in the batch (the newest call's values win)."""

    values: dict[str, str]
    create_only: set[str]
    match: set[str]


def merged_properties(plans: Sequence[CallPlan]) -> tuple[dict[str, str], set[str]]:
    """One caller's properties from all its deliveries (latest call wins), and the create-only names."""
    merged = caller_values(plans)
    return merged.values, merged.create_only


def caller_values(plans: Sequence[CallPlan]) -> CallerValues:
    properties: dict[str, str] = {}
    create_only: set[str] = set()
    match: set[str] = set()
    for plan in sorted(plans, key=call_time):
        assert plan.contact is not None
        properties.update(text_properties(plan.contact.fields))
        create_only.update(plan.contact.options.get("create_only", []))
        match.update(plan.contact.match)
    return CallerValues(properties, create_only, match)


def parse_moment(text: object) -> datetime | None:
    """A datetime property as HubSpot returns it (ISO 8601) or as written (Unix milliseconds)."""
    if not isinstance(text, str) or not text:
        return None
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def update_values(
    values: Mapping[str, str], merged: CallerValues, found: Mapping[str, Any], key_property: str
) -> dict[str, str]:
    """What an update of an existing contact may write.

    Left out: create-only properties; match properties (the number the contact was found by, or a
    number a person corrected) unless the contact has none; an earlier lifecycle stage; and the
    attribution and last-call properties (`callhub_*`) when the contact already holds those of a
    later call (an older call retried late).
    """
    existing: Mapping[str, Any] = found.get("properties") or {}
    stage = values.get("lifecyclestage")
    stored_at = parse_moment(existing.get(LAST_CALL_PROPERTY))
    incoming_at = parse_moment(values.get(LAST_CALL_PROPERTY))
    older = stored_at is not None and incoming_at is not None and incoming_at < stored_at
    kept: dict[str, str] = {}
    for name, value in values.items():
        if name in merged.create_only:
            continue
        if (name in merged.match or name in PHONE_PROPERTIES) and existing.get(name):
            continue
        if name == "lifecyclestage" and not stage_allowed(existing.get("lifecyclestage"), str(stage)):
            continue
        if older and name.startswith("callhub_") and name != key_property:
            continue
        kept[name] = value
    return kept


class ContactSync(Sync):
    @cached_property
    def outcomes(self) -> ContactOutcomes:
        """Which call last set each property of each contact (earlier outcomes still land)."""
        return ContactOutcomes(self.context)

    def run(self, plans: Sequence[CallPlan], ledger: Ledger) -> None:
        self.outcomes.begin()
        callers = group_by(ledger.open(w for w in plans if w.contact is not None), lambda w: w.caller)
        if not callers:
            return
        merged = {number: caller_values(group) for number, group in callers.items()}
        current = self._find(callers, ledger)
        self.outcomes.prefetch(found["id"] for found in current.values())
        resolved: dict[str, dict[str, str]] = {}
        for number, group in callers.items():
            if not ledger.open(group):
                continue
            values = ledger.guarded(group, partial(self.resolve_owner, merged[number].values), self.classify)
            if values is not None:
                resolved[number] = values
        updates: dict[str, dict[str, str]] = {}
        creates: dict[str, dict[str, str]] = {}
        for number, values in resolved.items():
            if not ledger.open(callers[number]):
                continue
            found = current.get(number)
            if found is None:
                creates[number] = values
                continue
            kept = update_values(values, merged[number], found, self.options.contact_key_property)
            kept = self.outcomes.admitted(found["id"], callers[number], kept)
            # Two numbers of one batch may belong to the same contact: one input per contact.
            updates.setdefault(found["id"], {}).update(kept)
            for plan in callers[number]:
                plan.contact_id = found["id"]
                plan.contact_note = "matched existing contact"
        self._write_updates(updates, callers, ledger)
        self._write_creates(creates, merged, callers, ledger)

    def _read_by_key(
        self, numbers: Sequence[str], callers: Mapping[str, list[CallPlan]], ledger: Ledger
    ) -> dict[str, dict[str, Any]]:
        key_property = self.options.contact_key_property
        found: dict[str, dict[str, Any]] = {}
        for keys in chunks(list(numbers)):
            group = [w for n in keys for w in callers[n]]
            answer = ledger.guarded(
                group,
                partial(
                    self.api.read_contacts,
                    list(keys),
                    [*_read_properties(callers), key_property],
                    id_property=key_property,
                ),
                self.classify,
            )
            if answer is None:
                continue
            # Numbers without a contact come back as per-input errors: they are created below.
            found.update({number: answer.records[number] for number in keys if number in answer.records})
        return found

    # --- finding -----------------------------------------------------------------------------

    def _find(self, callers: Mapping[str, list[CallPlan]], ledger: Ledger) -> dict[str, dict[str, Any]]:
        """Number -> the contact it belongs to (id + properties); absent when there is none."""
        found: dict[str, dict[str, Any]] = {}
        states = self.context.get_states(contact_state_key(number) for number in callers)
        remembered = {
            number: state["id"]
            for number in callers
            if (state := states[contact_state_key(number)]) and state.get("id")
        }
        for keys in chunks(list(remembered)):
            ids = [remembered[n] for n in keys]
            group = [w for n in keys for w in callers[n]]
            answer = ledger.guarded(
                group, partial(self.api.read_contacts, ids, _read_properties(callers)), self.classify
            )
            if answer is None:
                continue
            for number in keys:
                record = answer.records.get(remembered[number])
                if record is not None:
                    found[number] = record
                elif isinstance(answer.errors.get(remembered[number]), RetryableError):
                    # Deleted or merged since the hub wrote it: forget it and search again.
                    self.context.put_state(contact_state_key(number), {})
                    del remembered[number]
        to_search = sorted(n for n in callers if n not in remembered and ledger.open(callers[n]))
        self._search(to_search, callers, found, ledger)
        return found

    def _search(
        self,
        numbers: Sequence[str],
        callers: Mapping[str, list[CallPlan]],
        found: dict[str, dict[str, Any]],
        ledger: Ledger,
    ) -> None:
        match_properties = {p for n in numbers for w in callers[n] if w.contact for p in w.contact.match}
        searched = search_properties(sorted(match_properties))
        wanted = list(dict.fromkeys([*searched, *READ_PROPERTIES, "lastmodifieddate"]))
        pending = plan_searches(numbers, searched, self.options.max_in_values)
        while pending:
            search_plan = pending.pop(0)
            group = [w for n in search_plan.numbers for w in callers[n]]
            search = partial(
                self.api.search_contacts,
                search_plan.filter_groups(),
                wanted,
                # One number's holders are read as far as HubSpot pages (the duplicate policy then
                # chooses among them); several numbers' are searched apart instead.
                split_over=MAX_RESULTS if len(search_plan.numbers) > 1 else None,
            )
            try:
                hits = ledger.guarded(group, search, self.classify, passing=(TooManyResults,))
            except TooManyResults:
                pending[:0] = split(search_plan, searched, self.options.max_in_values)
                continue
            if hits is None:
                continue
            holders: dict[str, list[dict[str, Any]]] = {}
            for contact in hits:
                for number in numbers_held(
                    contact, searched, search_plan.numbers, self.options.default_region
                ):
                    holders.setdefault(number, []).append(contact)
            for number, contacts in holders.items():
                chosen = self._choose(contacts, callers[number], ledger)
                if chosen is not None:
                    found[number] = chosen

    def _choose(
        self, contacts: list[dict[str, Any]], group: list[CallPlan], ledger: Ledger
    ) -> dict[str, Any] | None:
        if len(contacts) == 1:
            return contacts[0]
        policy = next(
            (
                str(w.contact.options["duplicates"])
                for w in group
                if w.contact and "duplicates" in w.contact.options
            ),
            self.options.duplicates,
        )
        if policy == "hold":
            ids = ", ".join(sorted(c["id"] for c in contacts))
            ledger.settle(
                group, Held("several_contacts", f"{len(contacts)} contacts hold the caller's number: {ids}")
            )
            return None
        return dict(most_recent(contacts))

    # --- writing -----------------------------------------------------------------------------

    def _write_updates(
        self, updates: Mapping[str, dict[str, str]], callers: Mapping[str, list[CallPlan]], ledger: Ledger
    ) -> None:
        numbers_of: dict[str, list[str]] = {}
        for number, group in callers.items():
            contact_id = next((w.contact_id for w in group if w.contact_id), None)
            if contact_id is not None and contact_id in updates:
                numbers_of.setdefault(contact_id, []).append(number)
        for keys in chunks(list(updates)):
            group = [w for contact_id in keys for n in numbers_of[contact_id] for w in callers[n]]
            answer = ledger.guarded(
                group,
                partial(self.api.update_contacts, {k: updates[k] for k in keys}),
                self.classify,
            )
            if answer is None:
                continue
            for contact_id in keys:
                error = answer.errors.get(contact_id)
                if error is None:
                    self.outcomes.written(contact_id)
                for number in numbers_of[contact_id]:
                    if error is None:
                        self.context.put_state(contact_state_key(number), {"id": contact_id})
                        continue
                    if error.reason == "stale_id":
                        self.context.put_state(contact_state_key(number), {})
                    ledger.settle(callers[number], error)

    def _write_creates(
        self,
        creates: Mapping[str, dict[str, str]],
        merged: Mapping[str, CallerValues],
        callers: Mapping[str, list[CallPlan]],
        ledger: Ledger,
    ) -> None:
        """Create contacts keyed by the caller's number. A key some contact already holds (neither
        memory nor search knew it: search lag, or a person changed its phone) answers CONFLICT:
        that contact is read by key and updated under the update rules, never overwritten."""
        key_property = self.options.contact_key_property
        conflicts: list[str] = []
        created: list[tuple[str, str, str]] = []
        for keys in chunks(sorted(creates)):
            group = [w for number in keys for w in callers[number]]
            try:
                answer = self.api.create_contacts(key_property, {k: creates[k] for k in keys})
            except Exception as exc:  # noqa: BLE001
                error = self.classify(exc)
                if _is_conflict(error):
                    # HubSpot may refuse a whole batch for one duplicate: sort them out one way.
                    conflicts.extend(keys)
                else:
                    ledger.settle(group, error)
                continue
            for number in keys:
                record = answer.records.get(number)
                if record is None:
                    error = answer.errors[number]
                    if _is_conflict(error):
                        conflicts.append(number)
                    else:
                        ledger.settle(callers[number], error)
                    continue
                created.append((number, str(record["id"]), "created contact"))
        self._record_created(created, callers)
        if conflicts:
            self._settle_conflicts(conflicts, creates, merged, callers, ledger)

    def _settle_conflicts(
        self,
        numbers: Sequence[str],
        creates: Mapping[str, dict[str, str]],
        merged: Mapping[str, CallerValues],
        callers: Mapping[str, list[CallPlan]],
        ledger: Ledger,
    ) -> None:
        key_property = self.options.contact_key_property
        found = self._read_by_key(numbers, callers, ledger)
        self.outcomes.prefetch(contact["id"] for contact in found.values())
        updates: dict[str, dict[str, str]] = {}
        for number, contact in found.items():
            kept = update_values(creates[number], merged[number], contact, key_property)
            kept = self.outcomes.admitted(contact["id"], callers[number], kept)
            updates.setdefault(contact["id"], {}).update(kept)
            for plan in callers[number]:
                plan.contact_id = contact["id"]
                plan.contact_note = "matched the contact keyed by the caller's number"
        self._write_updates(updates, callers, ledger)
        # A conflict on another unique property (say email): the upsert answers with HubSpot's reason.
        rest = [n for n in numbers if n not in found and ledger.open(callers[n])]
        created: list[tuple[str, str, str]] = []
        for keys in chunks(rest):
            group = [w for number in keys for w in callers[number]]
            answer = ledger.guarded(
                group,
                partial(self.api.upsert_contacts, key_property, {k: creates[k] for k in keys}),
                self.classify,
            )
            if answer is None:
                continue
            for number in keys:
                record = answer.records.get(number)
                if record is None:
                    ledger.settle(callers[number], answer.errors[number])
                    continue
                note = "created contact" if record["new"] else "updated contact found by its key"
                created.append((number, str(record["id"]), note))
        self._record_created(created, callers)

    def _record_created(
        self, created: Sequence[tuple[str, str, str]], callers: Mapping[str, list[CallPlan]]
    ) -> None:
        """Remember each (number, contact id, note) written and where its properties came from."""
        self.outcomes.prefetch(contact_id for _, contact_id, _ in created)
        for number, contact_id, note in created:
            self.context.put_state(contact_state_key(number), {"id": contact_id})
            self.outcomes.created(contact_id, callers[number])
            for plan in callers[number]:
                plan.contact_id = contact_id
                plan.contact_note = note


def _read_properties(callers: Mapping[str, list[CallPlan]]) -> list[str]:
    """What a found contact is read with: the fixed set plus the mappings' match properties."""
    match = (name for group in callers.values() for w in group if w.contact for name in w.contact.match)
    return list(dict.fromkeys([*READ_PROPERTIES, *match]))


def _is_conflict(error: DeliveryError) -> bool:
    return error.details.get("category") == "CONFLICT"
