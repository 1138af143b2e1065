"""The admin API under /api/ (bearer token): search calls, inspect deliveries, replay."""

from __future__ import annotations

import functools
import hmac
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from connectors import registry as connector_registry
from connectors.hooks import AdminReport
from hub import queries
from hub.connector_services import StoreRecords
from hub.erasure import NotAPhoneNumber, forget
from hub.http.context import runtime
from hub.http.openapi import spec
from hub.prune import prune
from hub.refusals import reverify
from hub.replay import DeliveryFilter, ReplayRefused, replay_deliveries, replay_receipts
from hub.store.models import AuditEntry, Delivery, Receipt
from hub.time_filters import GRAMMAR, TimeFilterError, parse_time

blueprint = Blueprint("admin", __name__, url_prefix="/api")


@blueprint.before_request
def _authenticate() -> tuple[Response, int] | None:
    if request.endpoint == "admin.openapi":
        return None
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    expected = runtime().admin_token.reveal()
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        return jsonify(error="unauthorized", message="send Authorization: Bearer <HUB_ADMIN_TOKEN>"), 401
    return None


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(
        error=(exc.name or "error").lower().replace(" ", "_"), message=exc.description
    ), exc.code or 500


#: String filters treat an empty value as none; numbers and times must be what they say.
#: The largest offset a page may start at (the databases' integers are 64-bit; no listing is
#: anywhere near this long).
MAX_OFFSET = 1_000_000_000


def _single(name: str) -> str | None:
    """A query parameter given at most once (each is one value in the document)."""
    values = request.args.getlist(name)
    if len(values) > 1:
        abort(400, f"{name} is given more than once")
    return values[0] if values else None


def _arg(name: str) -> str | None:
    """A text filter; an empty value (`?status=`) is the same as none."""
    return _single(name) or None


#: The forms of hub.time_filters that the OpenAPI document describes (TIME_FILTER_SCHEMA): an
#: ISO 8601 date-time or date, a duration before now, now, today, yesterday. A value outside
#: them is refused, so what the API accepts is exactly what its document says.
_TIME_FORMS = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
    r"|[0-9]{1,5}[smhdw]|now|today|yesterday"
)


def _date_time(name: str, raw: object) -> datetime:
    """A time filter in one of the documented forms, else 400 with the grammar."""
    if not isinstance(raw, str) or not _TIME_FORMS.fullmatch(raw):
        abort(400, f"{name}: expected {GRAMMAR}")
    try:
        return parse_time(raw, name=name)
    except (TimeFilterError, OverflowError) as exc:
        abort(400, str(exc) if isinstance(exc, TimeFilterError) else f"{name} is out of range")
    raise AssertionError("abort raises")


def _time(name: str) -> datetime | None:
    raw = _single(name)
    return None if raw is None else _date_time(name, raw)


def _int(name: str, default: int, maximum: int = MAX_OFFSET) -> int:
    raw = _single(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) > maximum:
        abort(400, f"{name} must be a whole number from 0 to {maximum}")
    return int(raw)


def _json_object(allowed: dict[str, type]) -> dict[str, Any]:
    """The request's JSON object (none: {}), every given member of the type the document says."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object")
    for name, kind in allowed.items():
        if name in body and not isinstance(body[name], kind):
            abort(400, f"{name} must be a {_TYPE_NAMES[kind]}")
    return body


_TYPE_NAMES: dict[type, str] = {str: "string", list: "list"}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())


@blueprint.get("/events")
def list_events() -> Response:
    search = queries.CallSearch(
        phone=_arg("phone"),
        call_id=_arg("call_id"),
        source=_arg("source"),
        status=_arg("status"),
        destination=_arg("destination"),
        since=_time("since"),
        until=_time("until"),
        limit=_int("limit", 50),
        offset=_int("offset", 0),
    )
    with runtime().db.read_session() as session:
        try:
            return jsonify(queries.search_calls(session, search))
        except queries.CallSearchError as exc:
            abort(400, str(exc))


@blueprint.get("/events/<call_id>")
def get_event(call_id: str) -> Response:
    with runtime().db.read_session() as session:
        detail = queries.call_detail(session, call_id)
    if detail is None:
        abort(404, f"no call {call_id}")
    return jsonify(detail)


@blueprint.get("/deliveries")
def list_deliveries() -> Response:
    search = queries.DeliverySearch(
        status=_arg("status"),
        destination=_arg("destination"),
        reason=_arg("reason"),
        since=_time("since"),
        until=_time("until"),
        limit=_int("limit", 50),
        offset=_int("offset", 0),
    )
    with runtime().db.read_session() as session:
        return jsonify(queries.search_deliveries(session, search))


@blueprint.get("/deliveries/<item:delivery_id>")
def get_delivery(delivery_id: str) -> Response:
    with runtime().db.read_session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            abort(404, f"no delivery {delivery_id}")
        attempts = queries.attempts_for(session, [delivery_id]).get(delivery_id, [])
        return jsonify(queries.delivery_detail(delivery, attempts))


def _replay(selection: DeliveryFilter) -> tuple[Response, int]:
    try:
        ids = replay_deliveries(runtime().db, selection)
    except ReplayRefused as exc:
        return jsonify(error="not_replayable", message=str(exc)), 409
    return jsonify(replayed=len(ids), ids=ids), 202


@blueprint.post("/deliveries/<item:delivery_id>/replay")
def replay_one(delivery_id: str) -> tuple[Response, int]:
    with runtime().db.read_session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            abort(404, f"no delivery {delivery_id}")
        status = delivery.status
    return _replay(DeliveryFilter(statuses=(status,), ids=(delivery_id,)))


@blueprint.post("/deliveries/replay")
def replay_many() -> tuple[Response, int]:
    body = _json_object({"statuses": list, "destination": str, "reason": str, "since": str, "until": str})
    statuses = body.get("statuses") or ["rejected", "failed", "held"]
    if not all(isinstance(s, str) for s in statuses):
        abort(400, "statuses must be a list of delivery statuses")
    since = _date_time("since", body["since"]) if "since" in body else None
    until = _date_time("until", body["until"]) if "until" in body else None
    return _replay(
        DeliveryFilter(
            statuses=tuple(statuses),
            destination=body.get("destination"),
            reason=body.get("reason"),
            since=since,
            until=until,
        )
    )


@blueprint.get("/receipts")
def list_receipts() -> Response:
    with runtime().db.read_session() as session:
        return jsonify(
            queries.search_receipts(
                session,
                _arg("status"),
                _arg("source"),
                _int("limit", 50),
                _int("offset", 0),
            )
        )


@blueprint.get("/receipts/<int(max=2147483647):receipt_id>")
def get_receipt(receipt_id: int) -> Response:
    with runtime().db.read_session() as session:
        receipt = session.get(Receipt, receipt_id)
        if receipt is None:
            abort(404, f"no receipt {receipt_id}")
        return jsonify(queries.receipt_detail(receipt))


@blueprint.post("/receipts/<int(max=2147483647):receipt_id>/replay")
def replay_receipt(receipt_id: int) -> tuple[Response, int]:
    hub = runtime()
    with hub.db.read_session() as session:
        receipt = session.get(Receipt, receipt_id)
        if receipt is None:
            abort(404, f"no receipt {receipt_id}")
        status = receipt.status
    if status == "refused":
        result = reverify(hub, ids=(receipt_id,))
        if not result.accepted:
            with hub.db.read_session() as session:
                refused = session.get(Receipt, receipt_id)
                reason = refused.error_reason if refused else None
                message = refused.error if refused else None
            if result.duplicates:
                reason, message = "duplicate", message
            return jsonify(error=reason or "refused", message=message or "still refused"), 409
        return jsonify(replayed=1, ids=result.accepted), 202
    ids = replay_receipts(hub.db, ids=(receipt_id,))
    if not ids:
        return jsonify(
            error="not_replayable",
            message="only receipts that failed to parse, were ignored or were refused can be replayed",
        ), 409
    return jsonify(replayed=len(ids), ids=ids), 202


@blueprint.post("/receipts/replay")
def replay_receipts_bulk() -> tuple[Response, int]:
    body = _json_object({"source": str, "status": str})
    source = body.get("source")
    status = body.get("status", "failed")
    if status not in ("failed", "refused"):
        abort(400, "status must be failed (parse again) or refused (verify again, then parse)")
    hub = runtime()
    if status == "refused":
        result = reverify(hub, source=source)
        return jsonify(
            replayed=len(result.accepted),
            ids=result.accepted,
            still_refused=result.still_refused,
            duplicates=result.duplicates,
        ), 202
    ids = replay_receipts(hub.db, source=source)
    return jsonify(replayed=len(ids), ids=ids), 202


@blueprint.post("/prune")
def prune_now() -> Response:
    hub = runtime()
    report = prune(hub.db, hub.config.retention, actor=f"api:{request.remote_addr or 'unknown'}")
    return jsonify(asdict(report))


@blueprint.post("/forget")
def forget_caller() -> Response:
    body = request.get_json(silent=True)
    phone = body.get("phone") if isinstance(body, dict) else None
    if not isinstance(phone, str) or not phone.strip():
        abort(400, 'send {"phone": "<the caller\'s number>"} (any format; "region" for numbers without +)')
    region = body.get("region", "US") if isinstance(body, dict) else "US"
    try:
        report = forget(
            runtime().db, phone, actor=f"api:{request.remote_addr or 'unknown'}", region=str(region)
        )
    except NotAPhoneNumber as exc:
        abort(400, str(exc))
    return jsonify(asdict(report))


@blueprint.get("/audit")
def audit_log() -> Response:
    limit = max(1, min(_int("limit", 50), queries.MAX_LIMIT))
    with runtime().db.read_session() as session:
        entries = session.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(_int("offset", 0))
        ).all()
        items = [
            {"at": queries.iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in entries
        ]
    return jsonify(items=items, limit=limit)


@blueprint.get("/sources")
def sources() -> Response:
    hub = runtime()
    base = hub.config.public_url or request.host_url.rstrip("/")
    return jsonify(
        items=[
            {
                "id": s.id,
                "provider": s.provider,
                "webhook_url": f"{base}/webhooks/{s.id}",
                "secrets": len(s.secrets),
                "secret_generated": s.secret_generated,
                "insecure": s.insecure,
                "default_region": s.default_region,
                "settle_s": s.settle_s,
            }
            for s in hub.config.sources.values()
        ]
    )


@blueprint.get("/destinations")
def destinations() -> Response:
    hub = runtime()
    return jsonify(
        items=[
            {
                "id": d.id,
                "type": d.type,
                "mode": "sandbox" if d.sandbox else "live",
                "sandbox_url": hub.sandbox_urls.get(d.id) if d.sandbox else None,
                "mappings": list(d.mappings),
                "enabled": d.enabled,
                "rate_limit": {"requests": d.rate_limit, "per_s": d.rate_window_s} if d.rate_limit else None,
                "max_attempts": d.max_attempts,
                "routes_from": [s for s in hub.config.sources if d.id in hub.config.destinations_for(s)],
            }
            for d in hub.config.destinations.values()
        ]
    )


def _destination_report(type_name: str, report: AdminReport, destination_id: str) -> Response:
    """A connector's report on one of its destinations (see connectors.hooks.AdminReport)."""
    hub = runtime()
    destination = hub.config.destinations.get(destination_id)
    if destination is None or destination.type != type_name:
        abort(404, f"no {report.destination_label} destination {destination_id}")
    since = _time("since") or datetime.now(UTC) - timedelta(days=report.default_days)
    body = report.build(StoreRecords(hub.db), destination_id, since)
    return jsonify(destination=destination_id, since=since.isoformat(), **body)


def _add_report_routes() -> None:
    """One route per report the connectors offer: `/api/destinations/<id>/<report name>`."""
    for name, (type_name, report) in connector_registry.admin_reports().items():
        blueprint.add_url_rule(
            f"/destinations/<destination_id>/{name}",
            endpoint=f"report_{name}",
            view_func=functools.partial(_destination_report, type_name, report),
            methods=["GET"],
        )


_add_report_routes()


@blueprint.get("/stats")
def stats() -> Response:
    with runtime().db.read_session() as session:
        return jsonify(queries.stats(session))
