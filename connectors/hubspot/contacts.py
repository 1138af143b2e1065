"""Bring each caller's contact up to date: find it (memory, then search), apply the duplicate policy,
then write every caller of the batch with one batch update and one batch upsert per 100.

Never a duplicate: the caller's numbers are locked by the connector around this step, ids the hub
wrote are remembered (search indexes lag), and new contacts are upserted on a unique property
keyed by the E.164 number, so a replay finds what an interrupted attempt created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from connectors.base import Held, RetryableError
from connectors.hubspot.lookup import most_recent, numbers_held, plan_searches, search_properties
from connectors.hubspot.properties import stage_allowed, text_properties
from connectors.hubspot.work import Ledger, Sync, Work, chunks, group_by, number_key


def contact_state_key(e164: str) -> str:
    return f"contact:{number_key(e164)}"


def merged_properties(works: Sequence[Work]) -> tuple[dict[str, str], set[str]]:
    """One caller's properties from all its deliveries (latest wins), and the create-only names."""
    properties: dict[str, str] = {}
    create_only: set[str] = set()
    for work in sorted(works, key=lambda w: w.order):
        assert work.contact is not None
        properties.update(text_properties(work.contact.fields))
        create_only.update(work.contact.options.get("create_only", []))
    return properties, create_only


class ContactSync(Sync):
    def run(self, works: Sequence[Work], ledger: Ledger) -> None:
        callers = group_by(ledger.open(w for w in works if w.contact is not None), lambda w: w.caller)
        if not callers:
            return
        properties = {number: merged_properties(group) for number, group in callers.items()}
        current = self._find(callers, ledger)
        updates: dict[str, dict[str, str]] = {}
        creates: dict[str, dict[str, str]] = {}
        for number, group in callers.items():
            if not ledger.open(group):
                continue
            raw_values, create_only = properties[number]
            values = ledger.guarded(group, partial(self.resolve_owner, raw_values), self.classify)
            if values is None:
                continue
            found = current.get(number)
            if found is None:
                creates[number] = values
                continue
            stage = values.get("lifecyclestage")
            existing_stage = found["properties"].get("lifecyclestage")
            kept = {
                name: value
                for name, value in values.items()
                if name not in create_only
                and not (name == "lifecyclestage" and not stage_allowed(existing_stage, str(stage)))
            }
            # Two numbers of one batch may belong to the same contact: one input per contact.
            updates.setdefault(found["id"], {}).update(kept)
            for work in group:
                work.contact_id = found["id"]
                work.contact_note = "matched existing contact"
        self._write_updates(updates, callers, ledger)
        self._write_creates(creates, callers, ledger)

    # --- finding -----------------------------------------------------------------------------

    def _find(self, callers: Mapping[str, list[Work]], ledger: Ledger) -> dict[str, dict[str, Any]]:
        """Number -> the contact it belongs to (id + properties); absent when there is none."""
        found: dict[str, dict[str, Any]] = {}
        remembered = {
            number: state["id"]
            for number in callers
            if (state := self.context.get_state(contact_state_key(number))) and state.get("id")
        }
        for keys in chunks(list(remembered)):
            ids = [remembered[n] for n in keys]
            group = [w for n in keys for w in callers[n]]
            answer = ledger.guarded(
                group, partial(self.api.read_contacts, ids, ["lifecyclestage"]), self.classify
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
        callers: Mapping[str, list[Work]],
        found: dict[str, dict[str, Any]],
        ledger: Ledger,
    ) -> None:
        match_properties = {p for n in numbers for w in callers[n] if w.contact for p in w.contact.match}
        searched = search_properties(sorted(match_properties))
        wanted = [*searched, "lifecyclestage", "lastmodifieddate"]
        for plan in plan_searches(numbers, searched, self.options.max_in_values):
            group = [w for n in plan.numbers for w in callers[n]]
            hits = ledger.guarded(
                group, partial(self.api.search_contacts, plan.filter_groups(), wanted), self.classify
            )
            if hits is None:
                continue
            holders: dict[str, list[dict[str, Any]]] = {}
            for contact in hits:
                for number in numbers_held(contact, searched, plan.numbers, self.options.default_region):
                    holders.setdefault(number, []).append(contact)
            for number, contacts in holders.items():
                chosen = self._choose(contacts, callers[number], ledger)
                if chosen is not None:
                    found[number] = chosen

    def _choose(
        self, contacts: list[dict[str, Any]], group: list[Work], ledger: Ledger
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
        self, updates: Mapping[str, dict[str, str]], callers: Mapping[str, list[Work]], ledger: Ledger
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
                for number in numbers_of[contact_id]:
                    if error is None:
                        self.context.put_state(contact_state_key(number), {"id": contact_id})
                        continue
                    if error.reason == "stale_id":
                        self.context.put_state(contact_state_key(number), {})
                    ledger.settle(callers[number], error)

    def _write_creates(
        self, creates: Mapping[str, dict[str, str]], callers: Mapping[str, list[Work]], ledger: Ledger
    ) -> None:
        key_property = self.options.contact_key_property
        for keys in chunks(sorted(creates)):
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
                self.context.put_state(contact_state_key(number), {"id": record["id"]})
                for work in callers[number]:
                    work.contact_id = record["id"]
                    work.contact_note = (
                        "created contact" if record["new"] else "updated contact found by its key"
                    )
