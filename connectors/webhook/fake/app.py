"""A local receiver for the `webhook` destination: records what it is sent, checks signatures.

`hub run` starts it when no URL is configured; tests use it, with faults on demand:
`POST /__fake__/faults {"status": 503, "count": 2, "retry_after": 1}` answers the next two
deliveries with 503; `DELETE /__fake__/faults` clears them (a destination back up).
`GET /__fake__/requests` lists what was received, `GET /__fake__/attempts` the most recent requests with their
time and the status it was answered, faulted ones included (what a rate limit or Retry-After
check needs); `POST /__fake__/reset` forgets it all.

It checks signatures the way docs/destinations/webhook.md tells receivers to, with its own code
rather than the connector's signing module, so a signing bug fails here instead of passing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from connectors.base import FAKE_CONTROL_PREFIX, FAKE_HISTORY_LIMIT, add_fake_latency

RECEIVE_PATH = "/receive"
#: The secret `hub run` signs sandbox deliveries with (docs/destinations/webhook.md, sandbox mode).
DEFAULT_SECRET = "sandbox-webhook-secret"  # noqa: S105
#: The documented header and its freshness window: "refuse timestamps more than 5 minutes old".
SIGNATURE_HEADER = "X-Callhub-Signature"
TOLERANCE_S = 300


@dataclass
class Receiver:
    """Everything one fake receiver holds; reachable as `app.extensions["webhook_fake"]`."""

    secret: str
    #: The most recent deliveries; `total` counts every one.
    received: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FAKE_HISTORY_LIMIT))
    total: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: The most recent requests, faulted ones included (a long `hub run` must not keep them all).
    attempts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FAKE_HISTORY_LIMIT))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self) -> dict[str, Any] | None:
        with self.lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            fault["count"] -= 1
            if fault["count"] <= 0:
                self.faults.pop(0)
            return dict(fault)


def signed_by(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """True when one `v1=` of `header` is HMAC-SHA256(secret, "<t>.<body>") and `t` is fresh."""
    parts = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in parts if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    moment = int(stamps[0])
    if abs((time.time() if now is None else now) - moment) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")


def _receiver() -> Receiver:
    receiver: Receiver = current_app.extensions["webhook_fake"]
    return receiver


def receive() -> tuple[Response, int]:
    receiver = _receiver()
    body = request.get_data()
    attempt: dict[str, Any] = {"at": time.time(), "delivery_id": request.headers.get("X-Callhub-Delivery")}
    with receiver.lock:
        receiver.attempts.append(attempt)
    fault = receiver.take_fault()
    if fault is not None:
        response = jsonify(error="injected fault")
        if fault.get("retry_after") is not None:
            response.headers["Retry-After"] = str(fault["retry_after"])
            attempt["retry_after"] = float(fault["retry_after"])
        attempt["status"] = int(fault["status"])
        return response, int(fault["status"])
    if not signed_by(receiver.secret, request.headers.get(SIGNATURE_HEADER, ""), body):
        attempt["status"] = 401
        return jsonify(error="bad signature"), 401
    attempt["status"] = 200
    with receiver.lock:
        receiver.total += 1
        receiver.received.append(
            {
                "delivery_id": request.headers.get("X-Callhub-Delivery"),
                "event": request.headers.get("X-Callhub-Event"),
                "json": request.get_json(silent=True),
            }
        )
    return jsonify(status="received"), 200


control = Blueprint("webhook_fake_control", __name__, url_prefix=FAKE_CONTROL_PREFIX)


@control.get("/requests")
def listing() -> Response:
    receiver = _receiver()
    with receiver.lock:
        return jsonify(items=list(receiver.received), total=receiver.total)


@control.post("/faults")
def add_fault() -> tuple[Response, int]:
    spec = request.get_json(force=True)
    receiver = _receiver()
    with receiver.lock:
        receiver.faults.append(
            {
                "status": int(spec.get("status", 503)),
                "count": int(spec.get("count", 1)),
                "retry_after": spec.get("retry_after"),
            }
        )
    return jsonify(status="ok"), 201


@control.delete("/faults")
def clear_faults() -> Response:
    receiver = _receiver()
    with receiver.lock:
        receiver.faults.clear()
    return jsonify(status="ok")


@control.get("/attempts")
def attempt_log() -> Response:
    receiver = _receiver()
    with receiver.lock:
        return jsonify(items=list(receiver.attempts))


@control.post("/reset")
def reset() -> Response:
    receiver = _receiver()
    with receiver.lock:
        receiver.received.clear()
        receiver.total = 0
        receiver.faults.clear()
        receiver.attempts.clear()
    return jsonify(status="ok")


def create_app(secret: str = DEFAULT_SECRET, latency_s: float = 0.0, **_: Any) -> Flask:
    """The receiver; deliveries must be signed with `secret`; `latency_s` delays every answer."""
    app = Flask("webhook_fake")
    app.extensions["webhook_fake"] = Receiver(secret)
    app.add_url_rule(RECEIVE_PATH, "receive", receive, methods=["POST"])
    app.register_blueprint(control)
    add_fake_latency(app, latency_s)
    return app
