"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.http.context import runtime
from hub.metrics_export import registry_for

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    hub = runtime()
    checks: dict[str, str] = {}
    try:
        with hub.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        hub.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503


@blueprint.get("/metrics")
def metrics() -> Response:
    registry = current_app.config.get("HUB_METRICS_REGISTRY")
    if registry is None:
        registry = current_app.config["HUB_METRICS_REGISTRY"] = registry_for(runtime())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
