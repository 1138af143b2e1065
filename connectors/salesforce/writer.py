"""Writes one batch of calls in bulk: find callers, create missing Leads, update people, then Tasks.

Each step is one request per 200 records (sObject Collections) whatever the batch size, so a
burst costs a handful of API calls per 200 calls. Two workers handling the same new number
serialize on a per-number lock held from the lookup until the new Lead is remembered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.base import ConnectorContext, Held
from connectors.provenance import FieldProvenance, Origin, merge_by_field, record_written
from connectors.salesforce.api import SalesforceApi
from connectors.salesforce.errors import duplicate_of, error_entries, from_entries
from connectors.salesforce.lookup import Person, PersonFinder, choose, last_call_state_key
from connectors.salesforce.members import MemberWriter
from connectors.salesforce.names import NameResolver
from connectors.salesforce.options import OWNER_EMAIL, Options
from connectors.salesforce.picklists import AddressPicklists
from connectors.salesforce.plan import CallPlan, create_only, lead_body, sendable, with_type, without_task
from connectors.salesforce.tasks import TaskWriter
from hub.core.phones import caller_key
from hub.core.records import RenderedRecord

LOCK_TIMEOUT_S = 60.0


class BatchWriter:
    def __init__(self, api: SalesforceApi, context: ConnectorContext, options: Options) -> None:
        self.api = api
        self.context = context
        self.options = options
        self.finder = PersonFinder(api, context, options.default_region)
        self.names = NameResolver(api)
        self.tasks = TaskWriter(api, context)
        self.members = MemberWriter(api, context, self.names)
        self.picklists = AddressPicklists(api)

    def write(self, plans: Sequence[CallPlan]) -> None:
        working = [plan for plan in plans if plan.records]
        self._resolve_agents(working)
        numbers = sorted({plan.number for plan in working if plan.number})
        callers = [f"salesforce:caller:{caller_key(number)}" for number in numbers]
        with self.context.locks(callers, LOCK_TIMEOUT_S):
            self._find_people(working, numbers)
            created = self._create_leads(working)
        self._update_people([plan for plan in working if plan.who and plan.who.id not in created])
        for plan in working:
            if plan.active and plan.who is not None:
                plan.written.setdefault(plan.who.sobject, plan.who.id)
            elif plan.active:
                why = "no caller number" if plan.number is None else "caller not found and no Lead mapping"
                plan.notes.append(f"{why}: nothing to link the call to")
        self.tasks.write(working)
        self.members.write(working)

    # --- people -----------------------------------------------------------------------------

    def _resolve_agents(self, plans: Sequence[CallPlan]) -> None:
        emails = [_agent_email(plan) for plan in plans]
        users = self.names.users(email for email in emails if email)
        for plan, email in zip(plans, emails, strict=True):
            plan.owner_id = users.get(email or "")

    def _find_people(self, plans: Sequence[CallPlan], numbers: Sequence[str]) -> None:
        if not numbers:
            return
        extra: dict[str, list[str]] = defaultdict(list)
        for plan in plans:
            for target in ("Lead", "Contact"):
                record = plan.record(target)
                if record is not None:
                    extra[target].extend(name for name in record.match if name not in extra[target])
        found = self.finder.find(numbers, extra)
        for plan in plans:
            if plan.number is None:
                continue
            choice = choose(found.get(plan.number, []), self.options.on_multiple_matches)
            if isinstance(choice, Held):
                plan.held = choice
            else:
                plan.who = choice

    def _create_leads(self, plans: Sequence[CallPlan]) -> set[str]:
        """Create one Lead per unknown number (several calls from it in the batch share it).

        With a `key_field` (the caller's E.164 in a unique External ID field), Leads the hub created
        before are first looked up there by exact SOQL (search lags behind a save, and a lost
        response leaves no note of the id), and new ones are upserted on it: never a second Lead.
        """
        groups: dict[str, list[CallPlan]] = defaultdict(list)
        for plan in sorted(plans, key=lambda p: p.call_time):
            if plan.active and plan.who is None and plan.number and plan.record("Lead") is not None:
                groups[plan.number].append(plan)
        if not groups:
            return set()
        key_field = _key_field(plans)
        if key_field:
            for number, keyed in self.finder.find_by_key(key_field, list(groups)).items():
                self.finder.remember(number, keyed)
                for plan in groups.pop(number):
                    plan.who = keyed
                    plan.notes.append(f"found the {keyed.sobject} the hub created for this caller")
            if not groups:
                return set()
        numbers = list(groups)
        bodies = []
        origins: dict[str, dict[str, Origin]] = {}
        for number in numbers:
            group = groups[number]
            newest = group[-1]
            # Every call of the batch contributes: an older call's value stays unless a newer one has its own.
            entries = [
                (plan.origin, self._adapted(plan, "Lead", sendable(_lead(plan).fields))) for plan in group
            ]
            merged, origins[number], _ = merge_by_field(entries, FieldProvenance(_NoState(), "Lead", ""))
            body = lead_body(merged, newest.owner_id or self.options.default_owner_id)
            if key_field:
                body[key_field] = number
            bodies.append(with_type("Lead", body))
        results = self.api.upsert("Lead", key_field, bodies) if key_field else self.api.create(bodies)
        created: dict[str, str] = {}
        for number, result in zip(numbers, results, strict=True):
            person = self._created_or_linked(groups[number], result)
            if person is not None:
                self.finder.remember(number, person)
                if result.get("success"):
                    created[number] = person.id
                for plan in groups[number]:
                    plan.who = person
        provenances = FieldProvenance.read_many(self.context, "Lead", created.values())
        for number, lead_id in created.items():
            # Taken once: a Lead met again (two numbers upserted onto it) reads what was just noted.
            provenance = provenances.pop(lead_id, None) or FieldProvenance(self.context, "Lead", lead_id)
            record_written(provenance, origins[number])
        return set(created.values())

    def _created_or_linked(self, plans: Sequence[CallPlan], result: Mapping[str, Any]) -> Person | None:
        if result.get("success"):
            note = "created Lead" if result.get("created", True) else "found the Lead by its caller key"
            for plan in plans:
                plan.notes.append(note)
            return Person("Lead", str(result["id"]))
        entries = error_entries(result.get("errors"))
        if entries and entries[0]["code"] == "DUPLICATES_DETECTED":
            duplicate = duplicate_of(entries[0])
            if duplicate is not None:
                for plan in plans:
                    plan.notes.append(f"a duplicate rule matched {duplicate[0]} {duplicate[1]}: linked to it")
                return Person(*duplicate)
            for plan in plans:
                plan.held = Held("duplicate_rule", note=f"Salesforce duplicate rule: {entries[0]['message']}")
            return None
        error = without_task(from_entries(entries), "the caller's Lead could not be created")
        for plan in plans:
            plan.fail(error)
        return None

    def _update_people(self, plans: Sequence[CallPlan]) -> None:
        """Update matched people with each call's values, field by field: a value from a call is
        written unless a newer call set that same field (see connectors/provenance.py)."""
        owners: dict[str, list[CallPlan]] = defaultdict(list)
        kinds: dict[str, str] = {}
        entries: dict[str, list[tuple[CallPlan, dict[str, Any]]]] = defaultdict(list)
        for plan in sorted(plans, key=lambda p: p.call_time):
            if not plan.active or plan.who is None:
                continue
            owners[plan.who.id].append(plan)
            kinds[plan.who.id] = plan.who.sobject
            record = plan.record(plan.who.sobject)
            if record is not None:
                body = sendable(record.fields, drop=create_only(record))
                if body:
                    entries[plan.who.id].append((plan, self._adapted(plan, plan.who.sobject, body)))
        payload: list[dict[str, Any]] = []
        written: dict[str, tuple[FieldProvenance, dict[str, Origin]]] = {}
        provenances = self._provenances(kinds, entries)
        for record_id, group in entries.items():
            provenance = provenances[record_id]
            body, origins, _ = merge_by_field([(plan.origin, values) for plan, values in group], provenance)
            for plan, values in group:
                held = sorted(name for name in values if not provenance.admits(name, plan.origin))
                if held:
                    plan.notes.append(f"kept the {kinds[record_id]}'s {', '.join(held)} from a later call")
            if body:
                payload.append(with_type(kinds[record_id], body, record_id))
                written[record_id] = (provenance, origins)
        ids = [str(record["id"]) for record in payload]
        results = dict(zip(ids, self.api.update(payload), strict=True)) if payload else {}
        for record_id, people in owners.items():
            result = results.get(record_id)
            error = (
                None
                if result is None or result.get("success")
                else from_entries(error_entries(result.get("errors")))
            )
            for plan in people:
                if error is not None:
                    plan.fail(without_task(error, f"the caller's {kinds[record_id]} could not be updated"))
                elif result is not None:
                    plan.notes.append(f"updated {kinds[record_id]}")
            if result is not None and error is None:
                record_written(*written[record_id])

    def _adapted(self, plan: CallPlan, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with address values on the org's State/Country code fields when it has them."""
        plan.notes.extend(self.picklists.adapt(sobject, body))
        return body

    def _provenances(
        self,
        kinds: Mapping[str, str],
        entries: Mapping[str, Sequence[tuple[CallPlan, Mapping[str, Any]]]],
    ) -> dict[str, FieldProvenance]:
        """Record id -> its provenance; the batch's state read in a query per sObject and one more."""
        provenances: dict[str, FieldProvenance] = {}
        for sobject in sorted({kinds[record_id] for record_id in entries}):
            ids = [record_id for record_id in entries if kinds[record_id] == sobject]
            provenances.update(FieldProvenance.read_many(self.context, sobject, ids))
        # A record last written before the hub kept provenance: its one "last call" time stands
        # for every field until the hub notes fields one by one.
        numbers = {
            record_id: [plan.number for plan, _ in entries[record_id] if plan.number]
            for record_id, provenance in provenances.items()
            if provenance.empty
        }
        last_calls = self.context.get_states(
            last_call_state_key(number) for group in numbers.values() for number in group
        )
        for record_id, group in numbers.items():
            for number in group:
                state = last_calls[last_call_state_key(number)]
                if state and state.get("at"):
                    provenances[record_id].floor = Origin(str(state["at"]), "")
        return provenances


class _NoState:
    """A provenance without memory: merges one new record's values from several calls."""

    def get_state(self, key: str) -> dict[str, Any] | None:
        return None

    def get_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        return dict.fromkeys(keys)

    def put_state(self, key: str, value: Mapping[str, Any]) -> None:
        return None


def _lead(plan: CallPlan) -> RenderedRecord:
    lead = plan.record("Lead")
    assert lead is not None
    return lead


def _key_field(plans: Sequence[CallPlan]) -> str | None:
    for plan in plans:
        lead = plan.record("Lead")
        if lead is not None and isinstance(lead.options.get("key_field"), str):
            return str(lead.options["key_field"])
    return None


def _agent_email(plan: CallPlan) -> str | None:
    for record in plan.records.values():
        value = record.fields.get(OWNER_EMAIL)
        if isinstance(value, str) and "@" in value:
            return value.strip().lower()
    return None
