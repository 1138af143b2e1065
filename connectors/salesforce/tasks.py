"""Tasks: one per call, created once and updated by later versions of the call, never duplicated.

A Task the hub has written is remembered by id (updated by id, leaving create-only fields out);
otherwise it is upserted on the call id External ID field, so a lost note still finds it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from connectors.base import ConnectorContext
from connectors.salesforce.api import SalesforceApi
from connectors.salesforce.errors import error_entries, from_entries
from connectors.salesforce.plan import CREATE_ONLY, CallPlan, sendable, with_type
from connectors.salesforce.summary import call_summary

#: A remembered Task that is no longer there (deleted in Salesforce): write it afresh.
_GONE: Final = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})


class TaskWriter:
    def __init__(self, api: SalesforceApi, context: ConnectorContext) -> None:
        self.api = api
        self.context = context

    def write(self, plans: Sequence[CallPlan]) -> None:
        by_call: dict[str, list[CallPlan]] = defaultdict(list)
        bodies: dict[str, tuple[str | None, dict[str, Any]]] = {}
        known: dict[str, str] = {}
        tasked = [plan for plan in plans if plan.active and plan.record("Task") is not None]
        states = self.context.get_states(_task_key(plan.call_key) for plan in tasked)
        for plan in tasked:
            task = plan.record("Task")
            assert task is not None
            by_call[plan.call_key].append(plan)
            body = self._task_body(plan)
            id_field = task.options.get("call_id_field") or (task.match[0] if task.match else None)
            if id_field and not body.get(id_field):
                body[id_field] = _external_id(plan.call_key)
            bodies[plan.call_key] = (id_field, body)
            state = states[_task_key(plan.call_key)]
            if state and state.get("id"):
                known[plan.call_key] = str(state["id"])
        gone = self._update(known, bodies, by_call)
        upserts: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        creates: dict[str, dict[str, Any]] = {}
        for key, (id_field, body) in bodies.items():
            if key in known and key not in gone:
                continue
            if id_field:
                upserts[id_field][key] = body
            else:
                creates[key] = body
        for field, calls in upserts.items():
            self._upsert_tasks(field, calls, by_call)
        if creates:
            keys = list(creates)
            payload = [with_type("Task", creates[key]) for key in keys]
            self._record_tasks(keys, self.api.create(payload), by_call, created=True)

    def _update(
        self,
        known: Mapping[str, str],
        bodies: Mapping[str, tuple[str | None, dict[str, Any]]],
        by_call: Mapping[str, list[CallPlan]],
    ) -> set[str]:
        """Update Tasks the hub wrote before; returns the calls whose Task someone has since deleted."""
        if not known:
            return set()
        keys = list(known)
        payload = []
        for key in keys:
            id_field, body = bodies[key]
            drop = {*CREATE_ONLY["Task"], *([id_field] if id_field else [])}
            payload.append(with_type("Task", {k: v for k, v in body.items() if k not in drop}, known[key]))
        results = self.api.update(payload)
        gone = {
            key
            for key, result in zip(keys, results, strict=True)
            if any(e["code"] in _GONE for e in error_entries(result.get("errors")))
        }
        kept = [(key, result) for key, result in zip(keys, results, strict=True) if key not in gone]
        self._record_tasks([k for k, _ in kept], [r for _, r in kept], by_call, created=False)
        return gone

    def _task_body(self, plan: CallPlan) -> dict[str, Any]:
        task = plan.record("Task")
        assert task is not None
        body = sendable(task.fields)
        if plan.who is not None:
            body["WhoId"] = plan.who.id
        if plan.owner_id and "OwnerId" not in body:
            body["OwnerId"] = plan.owner_id
        if task.options.get("description") == "call_summary" and "Description" not in body:
            summary = call_summary(plan.item.call)
            if summary:
                body["Description"] = summary
        return body

    def _upsert_tasks(
        self, field: str, calls: Mapping[str, dict[str, Any]], by_call: Mapping[str, list[CallPlan]]
    ) -> None:
        keys = list(calls)
        results = self.api.upsert("Task", field, [with_type("Task", body) for body in calls.values()])
        # The hub lost its note of a Task that exists: create-only fields make that update fail once.
        retry = [
            key
            for key, result in zip(keys, results, strict=True)
            if not result.get("success")
            and any(
                e["code"] == "INVALID_FIELD_FOR_INSERT_UPDATE" for e in error_entries(result.get("errors"))
            )
        ]
        if retry:
            payload = [
                with_type("Task", {k: v for k, v in calls[key].items() if k not in CREATE_ONLY["Task"]})
                for key in retry
            ]
            again = dict(zip(retry, self.api.upsert("Task", field, payload), strict=True))
            results = [again.get(key, result) for key, result in zip(keys, results, strict=True)]
        self._record_tasks(keys, results, by_call)

    def _record_tasks(
        self,
        keys: Sequence[str],
        results: Sequence[Mapping[str, Any]],
        by_call: Mapping[str, list[CallPlan]],
        created: bool | None = None,
    ) -> None:
        """Note each Task's id (so a later update finds it) and its outcome; `created` None: as reported."""
        for key, result in zip(keys, results, strict=True):
            plans = by_call[key]
            if result.get("success"):
                task_id = str(result["id"])
                self.context.put_state(_task_key(key), {"id": task_id})
                new = bool(result.get("created")) if created is None else created
                for plan in plans:
                    plan.written["Task"] = task_id
                    plan.notes.append("logged Task" if new else "updated Task")
            else:
                error = from_entries(error_entries(result.get("errors")))
                for plan in plans:
                    plan.fail(error)


def _task_key(call_key: str) -> str:
    return f"task:{hashlib.sha256(call_key.encode()).hexdigest()[:32]}"


def _external_id(call_key: str) -> str:
    return call_key if len(call_key) <= 255 else hashlib.sha256(call_key.encode()).hexdigest()
