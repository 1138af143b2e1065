"""A local receiver for the `webhook` destination: records what it is sent, checks signatures.

`hub run` starts it when no URL is configured; tests use it, with faults on demand:
`POST /__fake__/faults {"status": 503, "count": 2, "retry_after": 1}` answers the next two
deliveries with 503; `DELETE /__fake__/faults` clears them (a destination back up).
`GET /__fake__/attempts` lists every request with its time and the status it was answered,
faulted ones included (what a rate limit or Retry-After check needs).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request

from connectors.webhook.connector import SANDBOX_SECRET
from connectors.webhook.signing import SIGNATURE_HEADER, verify


def create_app(secret: str = SANDBOX_SECRET, **_: Any) -> Flask:
    app = Flask("webhook-sandbox")
    lock = threading.Lock()
    received: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []

    @app.post("/receive")
    def receive() -> tuple[Response, int]:
        body = request.get_data()
        signed = verify(secret, request.headers.get(SIGNATURE_HEADER, ""), body)
        with lock:
            attempt = {
                "at": time.time(),
                "delivery_id": request.headers.get("X-Callhub-Delivery"),
                "status": 200,
            }
            attempts.append(attempt)
            if faults:
                fault = faults[0]
                fault["count"] -= 1
                if fault["count"] <= 0:
                    faults.pop(0)
                response = jsonify(error="injected fault")
                if fault.get("retry_after") is not None:
                    response.headers["Retry-After"] = str(fault["retry_after"])
                    attempt["retry_after"] = float(fault["retry_after"])
                attempt["status"] = int(fault["status"])
                return response, int(fault["status"])
            if not signed:
                attempt["status"] = 401
                return jsonify(error="bad signature"), 401
            received.append(
                {
                    "delivery_id": request.headers.get("X-Callhub-Delivery"),
                    "event": request.headers.get("X-Callhub-Event"),
                    "json": request.get_json(silent=True),
                }
            )
        return jsonify(status="received"), 200

    @app.get("/__fake__/requests")
    def listing() -> Response:
        with lock:
            return jsonify(items=list(received))

    @app.post("/__fake__/faults")
    def add_fault() -> tuple[Response, int]:
        spec = request.get_json(force=True)
        with lock:
            faults.append(
                {
                    "status": int(spec.get("status", 503)),
                    "count": int(spec.get("count", 1)),
                    "retry_after": spec.get("retry_after"),
                }
            )
        return jsonify(status="ok"), 201

    @app.delete("/__fake__/faults")
    def clear_faults() -> Response:
        with lock:
            faults.clear()
        return jsonify(status="ok")

    @app.get("/__fake__/attempts")
    def attempt_log() -> Response:
        with lock:
            return jsonify(items=list(attempts))

    @app.post("/__fake__/reset")
    def reset() -> Response:
        with lock:
            received.clear()
            faults.clear()
            attempts.clear()
        return jsonify(status="ok")

    return app
