"""HubSpot's batch answers, read per input: records and errors tied back to the inputs by
`objectWriteTraceId` (HubSpot does not promise to keep them in order), every error field treated
as optional, and a batch HubSpot refused as a whole split until the refused input stands alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import DeliveryError, RetryableError
from connectors.hubspot.errors import classify, record_error, whole_batch_refusal

BATCH_LIMIT = 100
#: Extra requests one batch write may spend finding the input HubSpot refused a whole batch for.
#: Bisection finds one bad input among 100 in 14 requests; past this budget the inputs still
#: unresolved are retried later (in a smaller batch) rather than spending the portal's quota.
ISOLATION_BUDGET = 30
#: Values one search `IN` filter carries (HubSpot's documented maximum is 100).
CALL_SEARCH_VALUES = 100
#: When inputs left unresolved by an exhausted isolation budget are tried again.
ISOLATION_RETRY_S = 10.0


@dataclass
class BatchAnswer:
    """Per input key: the record written, or why not."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, DeliveryError] = field(default_factory=dict)


def plain(model: Any) -> dict[str, Any]:
    """A SimplePublicObject-like model as {"id", "properties", "updatedAt", "new"?, "trace"?}."""
    updated = getattr(model, "updated_at", None)
    return {
        "id": str(model.id),
        "properties": dict(model.properties or {}),
        "updatedAt": updated.isoformat() if isinstance(updated, datetime) else str(updated or ""),
        "new": bool(getattr(model, "new", False)),
        "trace": getattr(model, "object_write_trace_id", None),
    }


def trace_id(key: str) -> str:
    """What an input's `objectWriteTraceId` carries: its key by digest (keys may be phone numbers)."""
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def chunks_of(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[i : i + BATCH_LIMIT] for i in range(0, len(keys), BATCH_LIMIT)]


def record_json(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """A batch result as JSON, in `plain`'s shape; None when it carries no record id."""
    record_id = result.get("id")
    if record_id in (None, ""):
        return None
    properties = result.get("properties")
    return {
        "id": str(record_id),
        "properties": {str(k): v for k, v in properties.items()} if isinstance(properties, Mapping) else {},
        "updatedAt": str(result.get("updatedAt") or ""),
        "new": bool(result.get("new", False)),
        "trace": result.get("objectWriteTraceId"),
    }


def batch_json(response: Any) -> dict[str, Any]:
    """A batch answer read as JSON, not through the client's models.

    The models (with client-side validation) refuse HubSpot's own documented 207 answers, whose
    error entries carry no `errors` or `links`; HubSpot asks clients to treat every error field
    as optional (https://developers.hubspot.com/docs/api-reference/error-handling).
    """
    raw = response.data
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ValueError(f"HubSpot answered a batch with a body that is not JSON: {text[:200]}") from None
    if not isinstance(body, dict):
        raise ValueError("HubSpot answered a batch with JSON that is not an object")
    return body


def collect(answer: BatchAnswer, body: Mapping[str, Any], keys: Sequence[str], key_of: Any) -> None:
    """Tie results and errors back to input keys; an input nobody mentions failed silently."""
    by_trace = {trace_id(key): key for key in keys}
    for result in body.get("results") or []:
        record = record_json(result) if isinstance(result, Mapping) else None
        if record is None:
            continue
        key = by_trace.get(record["trace"] or "") or key_of(record)
        if key in keys:
            answer.records[key] = record
    unplaced: list[DeliveryError] = []
    for error in body.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        found_context = error.get("context")
        context: Mapping[str, Any] = found_context if isinstance(found_context, Mapping) else {}
        failure = record_error(str(error.get("category") or ""), str(error.get("message") or ""))
        named = [by_trace.get(str(t), "") for t in context.get("objectWriteTraceId") or []] + [
            str(i) for i in context.get("ids") or []
        ]
        targets = [k for k in dict.fromkeys(named) if k in keys]
        for key in targets:
            answer.errors.setdefault(key, failure)
        if not targets:
            unplaced.append(failure)
    for key in keys:
        if key not in answer.records and key not in answer.errors:
            answer.errors[key] = (
                unplaced[0]
                if unplaced
                else record_error(
                    "NO_RECORD", "the write answered success but returned no record for this input"
                )
            )


Request = Callable[[Sequence[str]], Any]
KeyOf = Callable[[dict[str, Any]], Any]


class Isolation:
    """One batch write: answers per input, splitting a batch HubSpot refused as a whole.

    Batch update and upsert answer one 400 VALIDATION_ERROR (or 409 CONFLICT) for the whole batch
    when a single input is bad, and batch create answers one 409 naming only the first duplicate:
    the batch is halved until the refused input stands alone, so it alone is rejected (with
    HubSpot's message) and every other input is written.
    """

    def __init__(self, request: Request, key_of: KeyOf) -> None:
        self.request = request
        self.key_of = key_of
        self.answer = BatchAnswer()
        self.budget = ISOLATION_BUDGET

    def run(self, keys: Sequence[str]) -> BatchAnswer:
        for chunk in chunks_of(keys):
            self._send(chunk, splitting=False)
        return self.answer

    def _send(self, chunk: Sequence[str], *, splitting: bool) -> None:
        try:
            response = self.request(chunk)
        except Exception as exc:
            refusal = whole_batch_refusal(exc)
            if refusal is None:
                if not splitting:
                    raise
                # Part of the batch is written already: this part's failure is its own.
                error = classify(exc)
                self.answer.errors.update(dict.fromkeys(chunk, error))
                return
            self._split(chunk, refusal)
            return
        collect(self.answer, response, chunk, self.key_of)

    def _split(self, chunk: Sequence[str], refusal: DeliveryError) -> None:
        if len(chunk) == 1:
            self.answer.errors[chunk[0]] = refusal
            return
        if self.budget < 2:
            postponed = RetryableError(
                f"HubSpot refused a batch of {len(chunk)} for one of its records ({refusal.message}); "
                "the others are retried in a smaller batch",
                reason="isolating",
                retry_after=ISOLATION_RETRY_S,
            )
            self.answer.errors.update(dict.fromkeys(chunk, postponed))
            return
        self.budget -= 2
        middle = len(chunk) // 2
        self._send(chunk[:middle], splitting=True)
        self._send(chunk[middle:], splitting=True)
