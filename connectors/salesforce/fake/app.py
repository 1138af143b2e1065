"""A faithful local Salesforce for tests and sandbox mode (`hub run` without credentials).

Plain HTTP on loopback: the connector's session mounts `transport.ToLocalHTTP`, so the real
simple-salesforce client (which only speaks https to *.salesforce.com) reaches it unchanged.
The control API under `/__fake__/` (see `fake/control.py`) injects faults and shows what was asked.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import flask

from connectors.base import add_fake_latency
from connectors.fake_store import FakeRecords
from connectors.salesforce.fake import control, login
from connectors.salesforce.fake.errors import FakeError
from connectors.salesforce.fake.org import Credentials, Org
from connectors.salesforce.fake.persist import import_earlier
from connectors.salesforce.fake.rest import RestApi
from connectors.salesforce.fake.schema import OBJECTS, FieldSpec, custom_field
from connectors.salesforce.fake.store import Store


def create_app(state_path: str | None = None, **options: Any) -> flask.Flask:
    """Options: username, password, security_token, consumer_key, consumer_secret, jwt_public_key
    (each None = accept anything), daily_limit, api_used, users [{Email, LastName}], campaigns [names];
    the org's shape: soap_login (default off, as in new orgs), picklists (State and Country/Territory
    picklists), duplicate_key (duplicateResult or the misspelled duplicateResut), custom_fields
    ({Lead: {Score__c: {type: double}}}); state_path: the SQLite file that keeps the org across
    restarts (without it, a temporary one).

    Raises ValueError for a malformed `custom_fields` (hub.yaml's `sandbox:` key)."""
    credential_names = Credentials.__dataclass_fields__
    custom = _custom_fields(options.get("custom_fields") or {})
    picklists = bool(options.get("picklists", False))
    records = FakeRecords(Path(state_path) if state_path else None)
    fresh = records.is_empty()
    org = Org(
        credentials=Credentials(**{k: v for k, v in options.items() if k in credential_names}),
        daily_limit=int(options.get("daily_limit", 100_000)),
        api_used=int(options.get("api_used", 0)),
        seed=lambda store: _seed(store, options),
        soap_login=bool(options.get("soap_login", False)),
        picklists=picklists,
        custom=custom,
        store=Store(picklists=picklists, custom=custom, records=records),
    )
    org.store.duplicate_key = _duplicate_key(options.get("duplicate_key", "duplicateResult"))
    if records.earlier:
        with records.transaction():
            import_earlier(org.store, records.earlier)
        records.imported_earlier()
    elif fresh:
        _seed(org.store, options)
    _redact_access_log()
    api = RestApi(org)
    app = flask.Flask("salesforce_fake")
    app.config["FAKE_ORG"] = org
    app.register_blueprint(control.blueprint(org))
    add_fake_latency(app, float(options.get("latency_s", 0.0)))

    @app.post("/services/oauth2/token")
    def oauth_token() -> flask.Response:
        status, body, content_type = login.token(
            org,
            flask.request.form,
            flask.request.headers.get("Authorization"),
            flask.request.headers.get("X-Forwarded-Host", ""),
        )
        return flask.Response(json.dumps(body), status=status, content_type=content_type)

    @app.post("/services/Soap/u/<version>")
    def soap(version: str) -> flask.Response:
        status, body, content_type = login.soap_login(org, flask.request.get_data(as_text=True), version)
        return flask.Response(body, status=status, content_type=content_type)

    @app.route(
        "/services/data/v<version>/<path:path>", methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
        strict_slashes=False,
    )  # fmt: skip
    @app.route("/services/data/v<version>/", methods=["GET"], defaults={"path": ""})
    def rest(version: str, path: str) -> flask.Response:
        request = flask.request
        try:
            org.authorize(request.headers.get("Authorization"))
            org.count_request(request.method, path)
            body = request.get_json(silent=True) if request.data else None
            status, out = api.handle(request.method, _raw_path(request, version, path), request.args, body)
        except FakeError as error:
            status, out = error.status, error.rest_body()
        org.record(request.method, "/" + path.strip("/"), status)
        response = flask.Response(
            "" if out is None else json.dumps(out),
            status=status,
            content_type="application/json;charset=UTF-8",
        )
        response.headers["Sforce-Limit-Info"] = org.limit_info()
        return response

    return app


class _RedactQueries(logging.Filter):
    """Access-log lines keep the path but not `?q=...`: SOSL and SOQL carry callers' numbers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) and "/services/data/" in arg else arg
                for arg in record.args
            )
        return True


_QUERY = re.compile(r"(\?q=)\S*")


def _redact_access_log() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, _RedactQueries) for f in logger.filters):
        logger.addFilter(_RedactQueries())


def _raw_path(request: flask.Request, version: str, decoded: str) -> str:
    """The path still percent-encoded: an external id may contain an encoded '/' (format_external_id)."""
    raw = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or "")
    prefix = f"/services/data/v{version}/"
    path = raw.split("?", 1)[0]
    return path[len(prefix) :] if path.startswith(prefix) else decoded


def _custom_fields(raw: Any) -> dict[str, tuple[FieldSpec, ...]]:
    if not isinstance(raw, dict):
        raise ValueError("custom_fields maps objects (Lead, Contact, Task) to {Field__c: {type: ...}}")
    fields: dict[str, tuple[FieldSpec, ...]] = {}
    for sobject, declared in raw.items():
        if sobject not in OBJECTS or not isinstance(declared, dict):
            raise ValueError(f"custom_fields: {sobject!r} is not an object of the fake org, or not a mapping")
        fields[sobject] = tuple(
            custom_field(sobject, str(name), spec if isinstance(spec, dict) else {"type": spec})
            for name, spec in declared.items()
        )
    return fields


def _duplicate_key(key: Any) -> str:
    if key not in ("duplicateResult", "duplicateResut"):
        raise ValueError("duplicate_key is duplicateResult or duplicateResut")
    return str(key)


def _seed(store: Store, options: dict[str, Any]) -> None:
    for user in options.get("users", ()):
        store.create("User", {"Username": user["Email"], "IsActive": True, **user}, trusted=True)
    for name in options.get("campaigns", ()):
        store.create("Campaign", {"Name": name, "IsActive": True}, trusted=True)
