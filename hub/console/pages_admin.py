"""Issues, sources, destinations (pause / resume, check, rate-limit use), mappings, audit log."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from hub.console.issues import STATES, issue_groups
from hub.console.web import audit, blueprint, current_user
from hub.core.errors import ConfigError
from hub.core.events import load_event
from hub.core.records import RenderedRecord
from hub.http.context import runtime
from hub.pauses import pause, paused_destinations, resume
from hub.store.models import AuditEntry, Call, Delivery, DestinationPause, IssueState, Receipt

REFUSED_STATUSES = ("refused",)


@blueprint.get("/issues")
def issues() -> str:
    with runtime().db.read_session() as session:
        groups = issue_groups(session)
    return render_template("console/issues.html", groups=groups, states=STATES)


@blueprint.post("/issues/state")
def issue_state() -> Response:
    key, state = request.form.get("key", ""), request.form.get("state", "")
    if state not in STATES or not key:
        abort(400, f"state must be one of {', '.join(STATES)}")
    user = current_user()
    assert user is not None
    with runtime().db.session() as session:
        row = session.get(IssueState, key)
        now = datetime.now(UTC)
        if row is None:
            session.add(IssueState(key=key, state=state, changed_by=user.name, changed_at=now))
        else:
            row.state, row.changed_by, row.changed_at = state, user.name, now
        audit(session, "issue_state", key, state=state)
    return redirect(url_for("console.issues"))


@blueprint.get("/sources")
def sources() -> str:
    hub = runtime()
    base = hub.config.public_url or request.host_url.rstrip("/")
    rows: list[dict[str, Any]] = []
    with hub.db.read_session() as session:
        for source in hub.config.sources.values():
            last = session.scalar(select(func.max(Receipt.received_at)).where(Receipt.source == source.id))
            problems = session.execute(
                select(Receipt.id, Receipt.received_at, Receipt.status, Receipt.error_reason, Receipt.error)
                .where(Receipt.source == source.id, Receipt.status.in_(("failed", *REFUSED_STATUSES)))
                .order_by(Receipt.id.desc())
                .limit(10)
            ).all()
            rows.append(
                {
                    "id": source.id,
                    "provider": source.provider,
                    "url": f"{base}/webhooks/{source.id}",
                    "last": last,
                    "secret_generated": source.secret_generated,
                    "insecure": source.insecure,
                    "problems": problems,
                }
            )
    return render_template("console/sources.html", rows=rows)


def _rate_use(destination_id: str) -> list[dict[str, Any]]:
    hub = runtime()
    context = hub.context(hub.config.destinations[destination_id])
    now_ms = time.time() * 1000
    use = []
    for bucket, limiter in getattr(context, "limiters", {}).items():
        used = int(hub.redis.zcount(limiter.key, now_ms - limiter.window_ms, "+inf"))
        use.append(
            {"bucket": bucket, "used": used, "limit": limiter.limit, "window_s": limiter.window_ms / 1000}
        )
    return use


@blueprint.get("/destinations")
def destinations() -> str:
    hub = runtime()
    with hub.db.read_session() as session:
        pauses = {
            p.destination: {"paused_by": p.paused_by, "reason": p.reason}
            for p in session.scalars(select(DestinationPause))
        }
        counts: dict[str, dict[str, int]] = {}
        for destination, status, count in session.execute(
            select(Delivery.destination, Delivery.status, func.count())
            .where(Delivery.superseded_by.is_(None))
            .group_by(Delivery.destination, Delivery.status)
        ):
            counts.setdefault(destination, {})[status] = count
    rows = []
    for d in hub.config.destinations.values():
        try:
            rate = _rate_use(d.id)
        except Exception as exc:  # noqa: BLE001 - Redis down: the page still shows the rest
            rate = [{"bucket": "unknown", "error": type(exc).__name__}]
        rows.append(
            {
                "id": d.id,
                "type": d.type,
                "mode": "sandbox" if d.sandbox else "live",
                "enabled": d.enabled,
                "pause": pauses.get(d.id),
                "counts": counts.get(d.id, {}),
                "rate": rate,
            }
        )
    check = request.args.get("checked")
    return render_template("console/destinations.html", rows=rows, checked=check, result=None)


@blueprint.get("/destinations/<destination_id>/check")
def destination_check(destination_id: str) -> str:
    """Run the connector's credential check now (a cheap authenticated read; changes nothing)."""
    hub = runtime()
    if destination_id not in hub.config.destinations:
        abort(404, f"no destination {destination_id}")
    try:
        result = asdict(hub.connector(destination_id).check())
    except ConfigError as exc:
        result = {"ok": False, "detail": "; ".join(exc.problems), "problems": []}
    return render_template("console/check.html", destination=destination_id, result=result)


@blueprint.post("/destinations/<destination_id>/pause")
def destination_pause(destination_id: str) -> Response:
    hub = runtime()
    if destination_id not in hub.config.destinations:
        abort(404, f"no destination {destination_id}")
    user = current_user()
    assert user is not None
    reason = request.form.get("reason", "").strip() or "paused from the console"
    with hub.db.session() as session:
        changed = pause(session, destination_id, user.name, reason, datetime.now(UTC))
    flash(
        f"{destination_id} paused: its deliveries stay pending."
        if changed
        else f"{destination_id} was already paused.",
        "ok",
    )
    return redirect(url_for("console.destinations"))


@blueprint.post("/destinations/<destination_id>/resume")
def destination_resume(destination_id: str) -> Response:
    hub = runtime()
    user = current_user()
    assert user is not None
    with hub.db.session() as session:
        changed = resume(session, destination_id, user.name, datetime.now(UTC))
    flash(
        f"{destination_id} resumed: pending deliveries go out now."
        if changed
        else f"{destination_id} was not paused.",
        "ok",
    )
    return redirect(url_for("console.destinations"))


@blueprint.get("/mappings")
def mappings() -> str:
    from hub.deliver import history_fields
    from hub.mapping import diff_records
    from hub.preview import _sent_records, preview_destination
    from hub.render import RenderFailed, load_destination_mappings, render_all

    hub = runtime()
    call_id = request.args.get("call", "").strip()
    rows = []
    with hub.db.read_session() as session:
        call = session.get(Call, call_id) if call_id else None
        for destination in hub.config.destinations.values():
            row: dict[str, Any] = {"id": destination.id, "files": list(destination.mappings), "problems": []}
            try:
                load_destination_mappings(hub.config, destination)
            except ConfigError as exc:
                row["problems"] = exc.problems
            if call is not None and not row["problems"]:
                event = load_event(call.state)
                preview = preview_destination(hub.config, destination, event)
                row["preview"] = preview
                sent = session.scalars(
                    select(Delivery)
                    .where(Delivery.call_id == call.id, Delivery.destination == destination.id)
                    .where(Delivery.records.is_not(None))
                    .order_by(Delivery.created_at.desc())
                    .limit(1)
                ).first()
                if sent is not None:
                    # Compared as stored: hashed fields masked (as `hub preview --mapping` does).
                    try:
                        rendered = [
                            dataclasses.replace(r, fields=history_fields(r.fields))
                            for r in render_all(load_destination_mappings(hub.config, destination), event)
                            if isinstance(r, RenderedRecord)
                        ]
                    except RenderFailed as exc:
                        row["diff"] = [f"! {exc.message}"]
                    else:
                        row["diff"] = diff_records(_sent_records(sent.records), rendered) or ["(no change)"]
                else:
                    row["diff"] = None
            rows.append(row)
    if call_id and call is None:
        flash(f"No call {call_id}.", "error")
    return render_template("console/mappings.html", rows=rows, call_id=call_id)


@blueprint.get("/audit")
def audit_log() -> str:
    with runtime().db.read_session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(500)).all()
        paused = paused_destinations(session)
        return render_template("console/audit.html", entries=entries, paused=paused)
