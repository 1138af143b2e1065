"""The local fake of GA4: one Flask app serving the Measurement Protocol and the Data API.

`hub run` starts it for a GA4 destination without credentials; tests drive it through the real
clients (`requests` for the MP, google-analytics-data for reports). The Data API answers from
what /mp/collect recorded, so a test that sends and then reports sees consistent numbers.

Control API (not GA's), for tests and people trying the hub:
- `GET  /__fake__/events`    events GA4 would have kept (`?name=phone_call` to filter)
- `GET  /__fake__/requests`  every body POSTed to /mp/collect, as received
- `POST /__fake__/faults`    `{"endpoint": "collect"|"debug"|"report", "status": 503, "times": 1,
                             "retry_after": 30}`: the next requests get that status instead
- `POST /__fake__/reset`     forget everything
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from connectors.base import FAKE_CONTROL_PREFIX, add_fake_latency
from connectors.ga4.fake import data_api, mp
from connectors.ga4.fake.state import Clock, SandboxState

control = Blueprint("ga4_control", __name__, url_prefix=FAKE_CONTROL_PREFIX)


def create_app(
    *,
    clock: Clock | None = None,
    timezone: str = "UTC",
    property_id: str | None = None,
    key_events: Sequence[str] = ("phone_call", "qualified_call"),
    state_path: str | None = None,
    latency_s: float = 0.0,
    **_: Any,
) -> Flask:
    """The fake; `clock` fixes "now" (backdating checks, relative report dates); `state_path`
    keeps what it received in a file across restarts; `latency_s` delays every answer (see
    `add_fake_latency`)."""
    app = Flask("ga4_fake")
    app.extensions["ga4_fake"] = SandboxState(clock, Path(state_path) if state_path else None)
    app.config.update(GA4_TIMEZONE=timezone, GA4_PROPERTY_ID=property_id, GA4_KEY_EVENTS=tuple(key_events))
    app.register_blueprint(mp.blueprint)
    app.register_blueprint(data_api.blueprint)
    app.register_blueprint(control)
    add_fake_latency(app, latency_s)
    return app


def sandbox_state(app: Flask) -> SandboxState:
    """The recorded state of a fake created by `create_app`, for in-process assertions."""
    return app.extensions["ga4_fake"]  # type: ignore[no-any-return]


@control.get("/events")
def list_events() -> Response:
    name = request.args.get("name")
    events = [event.as_json() for event in mp.state().events() if name is None or event.name == name]
    return jsonify({"events": events})


@control.get("/requests")
def list_requests() -> Response:
    hits = [
        {"measurement_id": hit.measurement_id, "received_at": hit.received_at.isoformat(), "body": hit.body}
        for hit in mp.state().hits()
    ]
    return jsonify({"requests": hits})


@control.post("/faults")
def add_fault() -> Response:
    spec = request.get_json(silent=True) or {}
    try:
        mp.state().add_fault(
            str(spec.get("endpoint", "collect")),
            int(spec.get("status", 503)),
            int(spec.get("times", 1)),
            float(spec["retry_after"]) if spec.get("retry_after") is not None else None,
        )
    except (TypeError, ValueError) as exc:
        return data_api.error_response(400, str(exc))
    return Response(status=204)


@control.post("/reset")
def reset() -> Response:
    mp.state().reset()
    return Response(status=204)
