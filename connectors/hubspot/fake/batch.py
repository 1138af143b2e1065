"""Batch endpoints of the fake: at most 100 inputs, per-input outcomes, and the two ways HubSpot
answers a batch with bad inputs.

HubSpot documents per-input answers (207 multi-status) only for batch *create* with an
`objectWriteTraceId` on each input (https://developers.hubspot.com/docs/api-reference/error-handling#multi-status-errors).
Batch update and upsert fail as a whole on one invalid input (400 VALIDATION_ERROR) or one
conflict (409 CONFLICT), and a batch create holding duplicates answers one 409 naming only the
first (https://github.com/HubSpot/hubspot-api-python/issues/51); nothing of such a batch is
written. That is the default (`WHOLE_BATCH`); `PER_RECORD` answers 207 per input everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.hubspot.fake.errors import FakeApiError, RecordError
from connectors.hubspot.fake.faults import Fault
from connectors.hubspot.fake.store import iso

MAX_INPUTS = 100
WHOLE_BATCH = "whole_batch"
PER_RECORD = "per_record"
BATCH_ERROR_MODES = (WHOLE_BATCH, PER_RECORD)
#: What refuses a whole batch; other per-input failures (a record not found) stay per input.
WHOLE_BATCH_CATEGORIES = frozenset({"VALIDATION_ERROR", "CONFLICT"})

#: One input -> its result JSON; raises RecordError when that input fails.
InputHandler = Callable[[Mapping[str, Any]], dict[str, Any]]


def batch_inputs(body: Any, *, keyed: bool) -> list[Mapping[str, Any]]:
    """The `inputs` list, refused as a whole the way HubSpot refuses a malformed batch."""
    inputs = body.get("inputs") if isinstance(body, Mapping) else None
    if not isinstance(inputs, list) or not all(isinstance(item, Mapping) for item in inputs):
        raise FakeApiError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list of objects.")
    if len(inputs) > MAX_INPUTS:
        raise FakeApiError(
            400, "VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the limit of {MAX_INPUTS}."
        )
    if keyed:
        keys = [str(item.get("id", "")) for item in inputs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise FakeApiError(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}.")
    return list(inputs)


def _input_key(item: Mapping[str, Any]) -> str:
    return str(item.get("id") or item.get("objectWriteTraceId") or "")


def run_batch(
    inputs: Sequence[Mapping[str, Any]], handler: InputHandler, fault: Fault | None, success_status: int
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for a batch: each input handled alone, failures listed under `errors`."""
    started = iso(datetime.now(UTC))
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    record_fault = fault if fault is not None and fault.kind != "status" else None
    if record_fault is not None and record_fault.kind == "no_record":
        # A 2xx that wrote nothing and says nothing: the client sees an empty `results`.
        return success_status, _body(started, [], [])
    for item in inputs:
        properties = item.get("properties") or {}
        trace = item.get("objectWriteTraceId")
        try:
            if record_fault is not None and record_fault.applies_to(properties):
                key = _input_key(item)
                raise RecordError(
                    record_fault.category, record_fault.message, context={"ids": [key]} if key else {}
                )
            result = handler(item)
        except RecordError as error:
            entry = error.standard_error()
            if trace:
                # The trace id an input carried is how a client ties an error back to its input.
                entry["context"] = {**entry["context"], "objectWriteTraceId": [str(trace)]}
            errors.append(entry)
            continue
        results.append({**result, "objectWriteTraceId": str(trace)} if trace else result)
    if record_fault is not None and record_fault.kind == "ok_with_errors":
        return success_status, _body(started, results, errors)
    if errors and not results and all(e["category"] == "VALIDATION_ERROR" for e in errors):
        # HubSpot refuses a batch whose every input is invalid as one 400.
        first = errors[0]
        raise FakeApiError(400, "VALIDATION_ERROR", first["message"], errors=first["errors"])
    return (207 if errors else success_status), _body(started, results, errors)


def _body(started: str, results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso(datetime.now(UTC)),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body


def whole_batch_refusal(
    operation: str, inputs: Sequence[Mapping[str, Any]], answer: Mapping[str, Any], mode: str
) -> FakeApiError | None:
    """The single error HubSpot answers instead of this batch's per-input errors, if it does."""
    errors = [e for e in answer.get("errors") or [] if e.get("category") in WHOLE_BATCH_CATEGORIES]
    if mode != WHOLE_BATCH or not errors or operation == "read":
        return None
    if operation == "create":
        conflicts = [error for error in errors if error.get("category") == "CONFLICT"]
        if conflicts:
            return _as_request_error(conflicts[0])
        if all(item.get("objectWriteTraceId") for item in inputs):
            return None  # multi-status enabled: 207 per input, as documented
    return _as_request_error(errors[0])


def _as_request_error(error: Mapping[str, Any]) -> FakeApiError:
    category = str(error.get("category") or "VALIDATION_ERROR")
    return FakeApiError(
        409 if category == "CONFLICT" else 400,
        category,
        str(error.get("message") or ""),
        errors=list(error.get("errors") or []),
    )
