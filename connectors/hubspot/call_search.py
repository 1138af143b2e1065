"""Writing call engagements without a unique property: remembered id, then search, then create.

Used when the portal cannot give the call key property unique values. Every step runs under a
per-call lock, so two workers never both decide to create. HubSpot's search index lags a few
seconds behind a create, so before creating, the writer records that it is about to; an attempt
that finds such a mark younger than `search_lag_s` (an earlier attempt that may have created
the engagement and died before remembering its id) waits for the index instead of creating a
second one. Older marks mean the search below is trustworthy again.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Final

from connectors.base import DeliveryError, PermanentError, RetryableError
from connectors.hubspot.plan import CallPlan, Ledger, Sync

#: How long one batch may hold its calls' locks (rate-limit waits included).
LOCK_TIMEOUT_S: Final = 120.0


def call_state_key(call_key: str) -> str:
    return f"call:{call_key}"


def call_lock_key(call_key: str) -> str:
    return f"hubspot:call:{hashlib.sha256(call_key.encode()).hexdigest()[:24]}"


class SearchedCalls(Sync):
    """One batch's call writes in search mode; returns call key -> engagement id written."""

    #: Call state key -> its state when the batch read it, under the calls' locks.
    _read: dict[str, dict[str, Any] | None]

    def write(
        self,
        calls: Mapping[str, list[CallPlan]],
        properties: Mapping[str, dict[str, str]],
        ledger: Ledger,
    ) -> dict[str, str]:
        # All of the batch's calls or none: waiting for each busy one in turn could take a lock
        # timeout per call.
        with contextlib.ExitStack() as locks:
            try:
                locks.enter_context(self.context.locks(map(call_lock_key, properties), LOCK_TIMEOUT_S))
            except DeliveryError as busy:
                for key in properties:
                    ledger.settle(calls[key], busy)
                return {}
            return self._write_locked(calls, {key: properties[key] for key in sorted(properties)}, ledger)

    def _write_locked(
        self, calls: Mapping[str, list[CallPlan]], properties: Mapping[str, dict[str, str]], ledger: Ledger
    ) -> dict[str, str]:
        now = time.time()
        remembered: dict[str, str] = {}
        to_search: list[str] = []
        self._read = self.context.get_states(call_state_key(key) for key in properties)
        for key in properties:
            state = self._read[call_state_key(key)] or {}
            if state.get("id"):
                remembered[key] = str(state["id"])
            elif now - float(state.get("creating_at", 0)) < self.options.search_lag_s:
                wait = self.options.search_lag_s - (now - float(state["creating_at"]))
                ledger.settle(
                    calls[key],
                    RetryableError(
                        "an earlier attempt was creating this call in HubSpot; waiting for HubSpot's "
                        "search index to show it before looking",
                        reason="search_lag",
                        retry_after=max(wait, 1.0),
                    ),
                )
            else:
                to_search.append(key)
        found = self._search(calls, to_search, ledger)
        remembered.update(found)
        still_open = {key: engagement for key, engagement in remembered.items() if ledger.open(calls[key])}
        written = self._update(calls, still_open, properties, ledger)
        creates = [k for k in to_search if k not in found and ledger.open(calls[k])]
        written.update(self._create(calls, creates, properties, ledger))
        return written

    def _search(
        self, calls: Mapping[str, list[CallPlan]], keys: Sequence[str], ledger: Ledger
    ) -> dict[str, str]:
        if not keys:
            return {}
        group = [w for key in keys for w in calls[key]]
        hits = ledger.guarded(
            group, partial(self.api.search_calls, self.options.call_key_property, list(keys)), self.classify
        )
        if hits is None:
            return {}
        found: dict[str, str] = {}
        for key, records in hits.items():
            ids = sorted((str(r["id"]) for r in records), key=_numeric)
            found[key] = ids[0]
            if len(ids) > 1:
                # Written before this hub looked (or by another tool): keep to the oldest.
                for plan in calls[key]:
                    plan.call_note = f"{len(ids)} call engagements hold this call id; updated the oldest"
        return found

    def _update(
        self,
        calls: Mapping[str, list[CallPlan]],
        ids: Mapping[str, str],
        properties: Mapping[str, dict[str, str]],
        ledger: Ledger,
    ) -> dict[str, str]:
        if not ids:
            return {}
        key_of = {engagement: key for key, engagement in ids.items()}
        group = [w for key in ids for w in calls[key]]
        answer = ledger.guarded(
            group,
            partial(self.api.update_calls, {engagement: properties[k] for engagement, k in key_of.items()}),
            self.classify,
        )
        if answer is None:
            return {}
        written: dict[str, str] = {}
        for engagement, key in key_of.items():
            if engagement in answer.records:
                written[key] = engagement
                self._remember(key, engagement)
                continue
            error = answer.errors[engagement]
            if error.reason == "stale_id":
                # Deleted or merged in HubSpot: forget it; the retry searches, then creates.
                self.context.put_state(call_state_key(key), {})
            ledger.settle(calls[key], error)
        return written

    def _create(
        self,
        calls: Mapping[str, list[CallPlan]],
        keys: Sequence[str],
        properties: Mapping[str, dict[str, str]],
        ledger: Ledger,
    ) -> dict[str, str]:
        if not keys:
            return {}
        for key in keys:
            self.context.put_state(call_state_key(key), {"creating_at": time.time()})
        group = [w for key in keys for w in calls[key]]
        answer = ledger.guarded(
            group,
            partial(self.api.create_calls, self.options.call_key_property, {k: properties[k] for k in keys}),
            self.classify,
        )
        if answer is None:
            # Unknown whether HubSpot created them: the mark stays, the retry waits for search.
            return {}
        written: dict[str, str] = {}
        for key in keys:
            record = answer.records.get(key)
            if record is not None:
                written[key] = str(record["id"])
                self._remember(key, str(record["id"]))
                continue
            error = answer.errors[key]
            if isinstance(error, PermanentError):
                # HubSpot refused this input: nothing was created, nothing to wait for.
                self.context.put_state(call_state_key(key), {})
            ledger.settle(calls[key], error)
        return written

    def _remember(self, key: str, engagement: str) -> None:
        # The state as read under the lock: since then only a `creating_at` mark (no id, so no
        # contact to keep) may have been written to it.
        state = self._read.get(call_state_key(key)) or {}
        contact = state.get("contact") if state.get("id") == engagement else None
        self.context.put_state(call_state_key(key), {"id": engagement, "contact": contact})


def _numeric(engagement_id: str) -> tuple[int, str]:
    return (int(engagement_id), engagement_id) if engagement_id.isdigit() else (0, engagement_id)
