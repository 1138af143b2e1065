"""Overview, calls search and call detail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub import queries
from hub.console import call_search
from hub.console.links import record_links
from hub.console.overview import RANGES
from hub.console.overview import overview as overview_figures
from hub.console.web import audit, blueprint
from hub.http.context import runtime
from hub.replay import DeliveryFilter, ReplayRefused, replay_deliveries
from hub.store.models import Delivery
from hub.time_filters import TimeFilterError, parse_time


def time_arg(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_time(raw, name=name)
    except TimeFilterError as exc:
        flash(str(exc), "error")
        return None


@blueprint.get("/")
def overview_page() -> Response:
    return redirect(url_for("console.overview"))


@blueprint.get("/overview")
def overview() -> str:
    range_name = request.args.get("range", "7d")
    if range_name not in RANGES:
        range_name = "7d"
    with runtime().db.read_session() as session:
        data = _overview_data(session, range_name)
    return render_template("console/overview.html", data=data, ranges=list(RANGES), range_name=range_name)


#: The connector report the overview shows as "attribution level per source" (GA4 offers it).
COVERAGE_REPORT = "coverage"


def _overview_data(session: Any, range_name: str) -> dict[str, Any]:
    from connectors import registry as connector_registry
    from hub.connector_services import StoreRecords

    data = overview_figures(session, range_name)
    hub = runtime()
    since = datetime.now(UTC) - RANGES[range_name]
    data["ga4"] = {}
    for destination in hub.config.destinations.values():
        for report in connector_registry.connector_class(destination.type).admin_reports:
            if report.name == COVERAGE_REPORT:
                built = report.build(StoreRecords(hub.db), destination.id, since)
                data["ga4"][destination.id] = built.get("sources", {})
    return data


@blueprint.get("/data/overview")
def overview_data() -> Response:
    """The charts' series (a session is required like any page: they hold call data)."""
    range_name = request.args.get("range", "7d")
    if range_name not in RANGES:
        abort(400, f"range must be one of {', '.join(RANGES)}")
    with runtime().db.read_session() as session:
        return jsonify(_overview_data(session, range_name))


@blueprint.get("/calls")
def calls() -> str:
    hub = runtime()
    query = call_search.CallQuery(
        q=request.args.get("q", ""),
        source=request.args.get("source") or None,
        status=request.args.get("status") or None,
        destination=request.args.get("destination") or None,
        call_status=request.args.get("call_status") or None,
        account=request.args.get("account") or None,
        first_time=request.args.get("first_time") == "1",
        since=time_arg("since"),
        until=time_arg("until"),
        page=int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1,
    )
    with hub.db.read_session() as session:
        total, rows = call_search.search(session, query)
    return render_template(
        "console/calls.html",
        rows=rows,
        total=total,
        query=query,
        args=request.args,
        destinations=list(hub.config.destinations),
        sources=list(hub.config.sources),
        page_size=call_search.PAGE_SIZE,
    )


#: Header and field names whose values the console never shows (connectors mask their own
#: exchanges when recording them; this also covers provider headers kept with raw receipts).
SECRET_NAME_PARTS = ("authorization", "signature", "token", "secret", "password", "api_key", "cookie")
SHOWN_FOR_SECRET = "[secret]"  # noqa: S105 - the placeholder shown instead


def _masked(value: Any) -> Any:
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {
            k: SHOWN_FOR_SECRET
            if isinstance(k, str) and any(p in k.lower() for p in SECRET_NAME_PARTS)
            else _masked(v)
            for k, v in value.items()
        }
    return value


@blueprint.get("/calls/<call_id>")
def call_detail(call_id: str) -> str:
    hub = runtime()
    with hub.db.read_session() as session:
        detail = queries.call_detail(session, call_id)
    if detail is None:
        abort(404, f"no call {call_id}")
    options = hub.config.console
    for delivery in detail["deliveries"]:
        destination = hub.config.destinations.get(delivery["destination"])
        ids = dict(delivery.get("external_ids") or {})
        if options is not None:
            ids.update(options.record_links.get(delivery["destination"], {}))
        delivery["links"] = record_links(destination.type if destination else "", ids)
        delivery["attempt_history"] = _masked(delivery.get("attempt_history") or [])
    for receipt in detail["receipts"]:
        receipt["headers"] = _masked(receipt.get("headers"))
    return render_template(
        "console/call.html", call=detail, pretty=lambda v: json.dumps(v, indent=2, default=str)
    )


@blueprint.post("/deliveries/<delivery_id>/replay")
def replay_one(delivery_id: str) -> Response:
    hub = runtime()
    with hub.db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            abort(404, f"no delivery {delivery_id}")
        status, call_id = delivery.status, delivery.call_id
        audit(session, "replay", delivery_id, count=1, status=status)
    try:
        replay_deliveries(hub.db, DeliveryFilter(statuses=(status,), ids=(delivery_id,)))
    except ReplayRefused as exc:
        flash(str(exc), "error")
    else:
        flash(f"Delivery {delivery_id} queued again.", "ok")
    return redirect(request.form.get("back") or url_for("console.call_detail", call_id=call_id))
