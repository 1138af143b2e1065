"""The Measurement Protocol half of the GA4 fake: /mp/collect and /debug/mp/collect."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connectors.ga4.fake import validation as rules
from connectors.ga4.fake.state import SandboxState

blueprint = Blueprint("ga4_mp", __name__)


def state() -> SandboxState:
    return current_app.extensions["ga4_fake"]  # type: ignore[no-any-return]


def _fault_response(endpoint: str) -> Response | None:
    fault = state().take_fault(endpoint)
    if fault is None:
        return None
    response = Response(f"injected fault {fault.status}", status=fault.status, mimetype="text/plain")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(int(fault.retry_after))
    return response


def _body() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return None


@blueprint.post("/mp/collect")
def collect() -> Response:
    """Like GA: 204 whatever the payload; only a broken HTTP request (a fault) gets anything else."""
    faulted = _fault_response("collect")
    if faulted is not None:
        return faulted
    body = _body()
    state().record(request.args.get("measurement_id", ""), body if isinstance(body, dict) else {})
    return Response(status=204)


@blueprint.post("/debug/mp/collect")
def debug_collect() -> Response:
    """GA's validation server: never records, answers 200 with `validationMessages`."""
    faulted = _fault_response("debug")
    if faulted is not None:
        return faulted
    body = _body()
    if not isinstance(body, dict):
        messages = [
            {
                "fieldPath": "",
                "description": "Unable to parse the request body as JSON.",
                "validationCode": rules.VALUE_INVALID,
            }
        ]
    else:
        messages = [problem.as_message() for problem in rules.check_body(body, state().clock())]
    return jsonify({"validationMessages": messages})
