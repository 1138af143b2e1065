"""A faithful local HubSpot (CRM v3/v4) for tests, the bench and `hub run` in sandbox mode.

The real hubspot-api-client talks to it over HTTP (`HubSpot(host=<url>, client_side_validation=True)`).
Every API request passes, in order: bearer auth (401 INVALID_AUTHENTICATION), the rate limits (429
with HubSpot's policy name and headers), injected faults, then the CRM handler.

Control API for tests and the bench (no auth, not counted, not rate limited):
- `POST /__fake__/faults` a fault (see faults.py), `DELETE /__fake__/faults` clears them;
- `GET /__fake__/stats` request counts; `GET /__fake__/records/<objectType>` what is stored;
- `GET /__fake__/log` the most recent requests with when each arrived and was answered (the bench
  draws its timeline from it);
- `POST /__fake__/reset` empties the CRM, the counters and the faults.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from connectors.base import FAKE_CONTROL_PREFIX, FAKE_HISTORY_LIMIT, add_fake_latency
from connectors.fake_store import FakeRecords, replay_journal
from connectors.hubspot.fake.batch import BATCH_ERROR_MODES, WHOLE_BATCH
from connectors.hubspot.fake.declared import declared_properties
from connectors.hubspot.fake.errors import FakeApiError
from connectors.hubspot.fake.faults import Fault, Faults
from connectors.hubspot.fake.limits import RateLimits
from connectors.hubspot.fake.routes import crm
from connectors.hubspot.fake.store import CrmStore

SANDBOX_OWNERS: tuple[dict[str, Any], ...] = (
    {
        "id": "7001",
        "email": "agent@example.com",
        "firstName": "Sandbox",
        "lastName": "Agent",
        "userId": 9001,
        "type": "PERSON",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "archived": False,
    },
)

#: Seconds a new record stays out of search results. HubSpot's search index trails its writes:
#: its search guide warns that new and changed records take a few moments to show in results
#: (https://developers.hubspot.com/docs/guides/api/crm/search), and clients see a contact created
#: a moment before missing from a search (https://github.com/HubSpot/hubspot-api-php/issues/59).
#: A sandbox that finds a record the instant it is written would hide a connector that
#: duplicates contacts.
SEARCH_LAG_S = 5.0


#: How many of the most recent requests keep their body (batches of 100 inputs are large: a long
#: `hub run` holding a thousand of them was the fake's largest use of memory).
BODY_HISTORY_LIMIT = 100


@dataclass
class RequestLog:
    method: str
    path: str
    status: int
    #: The JSON body, compact; None once the request is older than `BODY_HISTORY_LIMIT`.
    encoded: bytes | None
    #: Wall-clock seconds (time.time) when the request arrived and when it was answered.
    arrived: float = 0.0
    answered: float = 0.0

    @property
    def body(self) -> Any:
        return None if self.encoded is None else json.loads(self.encoded)


@dataclass
class FakeHubSpot:
    """Everything one fake portal holds; reachable as `app.extensions["hubspot_fake"]`."""

    store: CrmStore
    limits: RateLimits
    access_token: str | None
    faults: Faults = field(default_factory=Faults)
    counts: Counter[str] = field(default_factory=Counter)
    #: The most recent requests (the counters cover every one).
    log: deque[RequestLog] = field(default_factory=lambda: deque(maxlen=FAKE_HISTORY_LIMIT))
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: How batches with bad inputs are answered: `whole_batch` (HubSpot) or `per_record` (207).
    batch_errors: str = WHOLE_BATCH

    def import_earlier(self) -> None:
        """Bring the records an earlier version kept as JSON (a journal of changes, or one
        snapshot) into the portal's database, the first time `hub run` opens it."""
        text = self.store.db.earlier
        if not text:
            return
        with self.store.db.transaction():
            self._load_earlier(text)
        self.store.db.imported_earlier()

    def _load_earlier(self, text: str) -> None:
        replayed = replay_journal(text)
        if replayed.snapshot is not None:
            self.store.load_json(replayed.snapshot)
            return
        objects: dict[str, list[Any]] = {}
        associations: list[list[Any]] = []
        for key, value in replayed.records.items():
            if key[0] == "o":
                objects.setdefault(key[1], []).append(value)
            else:
                associations.append([*key[1:], value])
        self.store.load_json({**replayed.meta, "objects": objects, "associations": associations})

    def record(self, method: str, path: str, status: int, body: Any, arrived: float = 0.0) -> None:
        answered = time.time()
        route = path.rsplit("/", 1)[0] if path.rsplit("/", 1)[-1].isdigit() else path
        with self.lock:
            self.counts["total"] += 1
            self.counts[f"{method} {route}"] += 1
            self.counts[f"status {status}"] += 1
            if path.endswith("/search"):
                self.counts["search"] += 1
            encoded = None if body is None else json.dumps(body, separators=(",", ":")).encode()
            self.log.append(RequestLog(method, path, status, encoded, arrived or answered, answered))
            if len(self.log) > BODY_HISTORY_LIMIT:
                self.log[-BODY_HISTORY_LIMIT - 1].encoded = None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.counts["total"],
                "rate_limited": self.limits.rejected,
                "counts": dict(self.counts),
            }

    def reset(self) -> None:
        """An empty portal with the same settings: no records, counters, faults or spent limits.

        Its database is emptied (on file too, or the next `hub run` would bring the records back)."""
        store = self.store
        with self.lock:
            store.db.clear()
            self.store = CrmStore(**store.settings, records=store.db)
            self.counts.clear()
            self.log.clear()
            self.limits.reset()
        self.faults.clear()

    def requests_to(self, method: str, path_part: str) -> list[RequestLog]:
        with self.lock:
            return [entry for entry in self.log if entry.method == method and path_part in entry.path]


def _fake() -> FakeHubSpot:
    fake: FakeHubSpot = current_app.extensions["hubspot_fake"]
    return fake


def _error_response(error: FakeApiError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _authorized(fake: FakeHubSpot) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return fake.access_token is None or token.strip() == fake.access_token


def _before() -> Response | None:
    if request.path.startswith(FAKE_CONTROL_PREFIX):
        return None
    g.arrived = time.time()
    fake = _fake()
    if not _authorized(fake):
        raise FakeApiError(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
            "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    g.rate_limit_headers = fake.limits.admit(request.path.endswith("/search"))
    fault = fake.faults.take(request.method, request.path)
    if fault is not None and fault.kind == "status":
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        raise FakeApiError(fault.status, fault.category, fault.message, headers=headers)
    g.hubspot_fault = fault
    return None


def _after(response: Response) -> Response:
    if request.path.startswith(FAKE_CONTROL_PREFIX):
        return response
    for name, value in g.get("rate_limit_headers", {}).items():
        response.headers.setdefault(name, value)
    fake = _fake()
    fake.record(
        request.method,
        request.path,
        response.status_code,
        request.get_json(silent=True),
        g.get("arrived", 0.0),
    )
    return response


control = Blueprint("hubspot_fake_control", __name__, url_prefix=FAKE_CONTROL_PREFIX)


@control.post("/faults")
def add_fault() -> Response | tuple[Response, int]:
    try:
        fault = Fault.from_json(request.get_json(silent=True) or {})
    except (ValueError, TypeError) as error:
        return jsonify({"error": str(error)}), 400
    _fake().faults.add(fault)
    return jsonify({"ok": True})


@control.delete("/faults")
def clear_faults() -> Response:
    _fake().faults.clear()
    return jsonify({"ok": True})


@control.get("/stats")
def stats() -> Response:
    return jsonify(_fake().stats())


@control.get("/log")
def request_log() -> Response:
    with _fake().lock:
        entries = list(_fake().log)
    return jsonify(
        {
            "requests": [
                {
                    "method": e.method,
                    "path": e.path,
                    "status": e.status,
                    "arrived": e.arrived,
                    "answered": e.answered,
                }
                for e in entries
            ]
        }
    )


@control.get("/records/<object_type>")
def records(object_type: str) -> Response:
    return jsonify({"results": _fake().store.records(object_type)})


@control.post("/reset")
def reset() -> Response:
    _fake().reset()
    return jsonify({"ok": True})


def create_app(
    *,
    access_token: str | None = None,
    rate_limit: int = 100,
    rate_window_s: float = 10.0,
    search_rate_limit: int = 5,
    search_window_s: float = 1.0,
    search_lag_s: float = SEARCH_LAG_S,
    max_in_values: int = 100,
    custom_properties: bool = True,
    owners: Sequence[Mapping[str, Any]] = SANDBOX_OWNERS,
    default_region: str = "US",
    unique_calls: bool = True,
    batch_errors: str = WHOLE_BATCH,
    properties: Mapping[str, Any] | None = None,
    state_path: str | None = None,
    latency_s: float = 0.0,
) -> Flask:
    """The fake portal. `access_token=None` accepts any bearer token (sandbox mode); limits default
    to HubSpot's (100 per 10 s, search 5 per s); `search_lag_s` is how long a new record stays
    out of search (SEARCH_LAG_S; 0 for a portal searched the moment it is seeded);
    `custom_properties=False` is a portal without the callhub properties
    docs/destinations/hubspot.md asks for; `unique_calls=False` one without unique values on calls; `batch_errors="per_record"` answers 207 per input where HubSpot
    refuses the whole batch; `properties` adds custom properties ({contacts: [{name, type,
    options, unique}], calls: [...]}, hub.yaml's `sandbox: properties:`); `state_path` is the SQLite
    file that keeps the records across restarts (without it, a temporary one); `latency_s` delays every answer."""
    if batch_errors not in BATCH_ERROR_MODES:
        raise ValueError(f"batch_errors must be one of {', '.join(BATCH_ERROR_MODES)}")
    app = Flask("hubspot_fake")
    fake = FakeHubSpot(
        store=CrmStore(
            custom_properties=custom_properties,
            search_lag_s=search_lag_s,
            max_in_values=max_in_values,
            default_region=default_region,
            owners=owners,
            unique_calls=unique_calls,
            declared=declared_properties(properties),
            records=FakeRecords(Path(state_path) if state_path else None),
        ),
        limits=RateLimits(rate_limit, rate_window_s, search_rate_limit, search_window_s),
        access_token=access_token,
        batch_errors=batch_errors,
    )
    fake.import_earlier()
    app.extensions["hubspot_fake"] = fake
    app.register_error_handler(FakeApiError, _error_response)
    app.before_request(_before)
    app.after_request(_after)
    # After `_after`: the answer is due (its log's `answered`) once the latency has passed.
    add_fake_latency(app, latency_s)
    app.register_blueprint(crm)
    app.register_blueprint(control)

    @app.errorhandler(404)
    def _unknown_path(_: Exception) -> Response:
        return _error_response(FakeApiError(404, "OBJECT_NOT_FOUND", f"Unable to route {request.path}"))

    return app


def fake_of(app: Flask) -> FakeHubSpot:
    """The fake portal behind an app made by `create_app` (tests and the bench read it directly)."""
    fake: FakeHubSpot = app.extensions["hubspot_fake"]
    return fake
