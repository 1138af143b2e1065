"""Batch endpoints of the fake: at most 100 inputs, per-input outcomes, 207 multi-status answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.hubspot.fake.errors import FakeApiError, RecordError
from connectors.hubspot.fake.faults import Fault
from connectors.hubspot.fake.store import iso

MAX_INPUTS = 100

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
