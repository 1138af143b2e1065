"""Writes one batch of calls in bulk: find callers, create missing Leads, update people, then Tasks.

Each step is one request per 200 records (sObject Collections) whatever the batch size, so a
burst costs a handful of API calls per 200 calls. Two workers handling the same new number
serialize on a per-number lock held from the lookup until the new Lead is remembered.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import ConnectorContext, Held
from connectors.salesforce.api import SalesforceApi
from connectors.salesforce.errors import duplicate_of, error_entries, from_entries
from connectors.salesforce.lookup import Person, PersonFinder, choose
from connectors.salesforce.members import MemberWriter
from connectors.salesforce.names import NameResolver
from connectors.salesforce.options import OWNER_EMAIL, Options
from connectors.salesforce.phones import lock_key
from connectors.salesforce.plan import CallPlan, create_only, lead_body, merged, sendable, with_type
from connectors.salesforce.tasks import TaskWriter

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

    def write(self, plans: Sequence[CallPlan]) -> None:
        working = [plan for plan in plans if plan.records]
        self._resolve_agents(working)
        numbers = sorted({plan.number for plan in working if plan.number})
        with contextlib.ExitStack() as locks:
            # Sorted order: two workers with overlapping batches cannot deadlock.
            for number in numbers:
                locks.enter_context(
                    self.context.lock(f"salesforce:caller:{lock_key(number)}", LOCK_TIMEOUT_S)
                )
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
        """Create one Lead per unknown number (several calls from it in the batch share it)."""
        groups: dict[str, list[CallPlan]] = defaultdict(list)
        for plan in plans:
            if plan.active and plan.who is None and plan.number and plan.record("Lead") is not None:
                groups[plan.number].append(plan)
        if not groups:
            return set()
        numbers = list(groups)
        bodies = []
        for number in numbers:
            newest = groups[number][-1]
            lead = newest.record("Lead")
            assert lead is not None
            bodies.append(
                with_type("Lead", lead_body(lead, newest.owner_id or self.options.default_owner_id))
            )
        created: set[str] = set()
        for number, result in zip(numbers, self.api.create(bodies), strict=True):
            person = self._created_or_linked(groups[number], result)
            if person is not None:
                self.finder.remember(number, person)
                if result.get("success"):
                    created.add(person.id)
                for plan in groups[number]:
                    plan.who = person
        return created

    def _created_or_linked(self, plans: Sequence[CallPlan], result: Mapping[str, Any]) -> Person | None:
        if result.get("success"):
            for plan in plans:
                plan.notes.append("created Lead")
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
        error = from_entries(entries)
        for plan in plans:
            plan.fail(error)
        return None

    def _update_people(self, plans: Sequence[CallPlan]) -> None:
        bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        owners: dict[str, list[CallPlan]] = defaultdict(list)
        kinds: dict[str, str] = {}
        for plan in plans:
            if not plan.active or plan.who is None:
                continue
            owners[plan.who.id].append(plan)
            kinds[plan.who.id] = plan.who.sobject
            record = plan.record(plan.who.sobject)
            if record is not None:
                body = sendable(record.fields, drop=create_only(record))
                if body:
                    bodies[plan.who.id].append(body)
        ids = [record_id for record_id in owners if bodies.get(record_id)]
        payload = [with_type(kinds[i], merged(bodies[i]), i) for i in ids]
        results = dict(zip(ids, self.api.update(payload), strict=True)) if payload else {}
        for record_id, group in owners.items():
            result = results.get(record_id)
            error = (
                None
                if result is None or result.get("success")
                else from_entries(error_entries(result.get("errors")))
            )
            for plan in group:
                if error is not None:
                    plan.fail(error)
                elif result is not None:
                    plan.notes.append(f"updated {kinds[record_id]}")


def _agent_email(plan: CallPlan) -> str | None:
    for record in plan.records.values():
        value = record.fields.get(OWNER_EMAIL)
        if isinstance(value, str) and "@" in value:
            return value.strip().lower()
    return None
