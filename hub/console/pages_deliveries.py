"""Deliveries with filters, and "retry all N matching": count, confirm, progress, cancel."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub import queries
from hub.console import bulk
from hub.console.pages_calls import time_arg
from hub.console.web import blueprint, current_user
from hub.http.context import runtime
from hub.replay import REPLAYABLE, DeliveryFilter, ReplayRefused
from hub.time_filters import TimeFilterError, parse_optional

STATUSES = ("pending", "queued", "sending", "delivered", "skipped", "held", "rejected", "failed")
RETRY_DEFAULT = ("rejected", "failed", "held")


def _selection(values: dict[str, str]) -> DeliveryFilter:
    """The filter a retry applies: the page's filters; without a status, every failed kind."""
    status = values.get("status") or ""
    try:
        since = parse_optional(values.get("since") or None, name="since")
        until = parse_optional(values.get("until") or None, name="until")
    except TimeFilterError as exc:
        raise ReplayRefused(str(exc)) from exc
    return DeliveryFilter(
        statuses=(status,) if status else RETRY_DEFAULT,
        destination=values.get("destination") or None,
        reason=values.get("reason") or None,
        since=since,
        until=until,
    )


def _url(endpoint: str, filters: dict[str, str]) -> str:
    values: dict[str, Any] = {k: v for k, v in filters.items() if v}
    return url_for(endpoint, **values)


def _filters() -> dict[str, str]:
    return {k: request.values.get(k, "") for k in ("status", "destination", "reason", "since", "until")}


@blueprint.get("/deliveries")
def deliveries() -> str:
    hub = runtime()
    filters = _filters()
    search = queries.DeliverySearch(
        status=filters["status"] or None,
        destination=filters["destination"] or None,
        reason=filters["reason"] or None,
        since=time_arg("since"),
        until=time_arg("until"),
        limit=100,
        offset=0,
    )
    with hub.db.read_session() as session:
        result = queries.search_deliveries(session, search)
    retry_count: int | None = None
    retry_problem = None
    if not filters["status"] or filters["status"] in REPLAYABLE:
        try:
            retry_count = bulk.count_matching(hub.db, _selection(filters))
        except ReplayRefused as exc:
            retry_problem = str(exc)
    return render_template(
        "console/deliveries.html",
        result=result,
        filters=filters,
        statuses=STATUSES,
        destinations=list(hub.config.destinations),
        retry_count=retry_count,
        retry_problem=retry_problem,
    )


@blueprint.get("/deliveries/retry")
def retry_confirm() -> str | Response:
    """The confirmation step: the count, and what it will do, before anything changes."""
    filters = _filters()
    try:
        count = bulk.count_matching(runtime().db, _selection(filters))
    except ReplayRefused as exc:
        flash(str(exc), "error")
        return redirect(_url("console.deliveries", filters))
    return render_template("console/retry_confirm.html", filters=filters, count=count)


@blueprint.post("/deliveries/retry")
def retry_start() -> Response:
    filters = _filters()
    user = current_user()
    assert user is not None
    hub = runtime()
    try:
        selection = _selection(filters)
        expected = int(request.form.get("expected", "-1"))
        count = bulk.count_matching(hub.db, selection)
    except (ReplayRefused, ValueError) as exc:
        flash(str(exc), "error")
        return redirect(_url("console.deliveries", filters))
    if count != expected:
        flash(f"The selection now matches {count} deliveries, not {expected}: confirm again.", "error")
        return redirect(_url("console.retry_confirm", filters))
    job_id = bulk.start_job(hub, selection, user.name)
    return redirect(url_for("console.retry_job", job_id=job_id))


@blueprint.get("/jobs/<job_id>")
def retry_job(job_id: str) -> str:
    progress = bulk.job_progress(runtime().db, job_id)
    if progress is None:
        abort(404, f"no replay job {job_id}")
    return render_template("console/retry_job.html", job=progress)


@blueprint.get("/data/jobs/<job_id>")
def retry_job_data(job_id: str) -> Response:
    progress = bulk.job_progress(runtime().db, job_id)
    if progress is None:
        abort(404)
    return jsonify(progress)


@blueprint.post("/jobs/<job_id>/cancel")
def retry_cancel(job_id: str) -> Response:
    user = current_user()
    assert user is not None
    if bulk.cancel_job(runtime().db, job_id, user.name):
        flash("Cancelled: deliveries already queued again stay queued; the rest are left as they were.", "ok")
    else:
        flash("This job had already finished.", "error")
    return redirect(url_for("console.retry_job", job_id=job_id))


@blueprint.post("/jobs/<job_id>/resume")
def retry_resume(job_id: str) -> Response:
    user = current_user()
    assert user is not None
    if bulk.resume_job(runtime(), job_id, user.name):
        flash("Resumed: the job goes on from the last chunk it recorded.", "ok")
    else:
        flash("This job is not stalled: nothing to resume.", "error")
    return redirect(url_for("console.retry_job", job_id=job_id))
