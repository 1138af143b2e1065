"""The webhook receiver: `/webhooks/<source_id>`, what providers call."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from hub import metrics
from hub.http.context import runtime
from hub.receive import receive
from webhooks.base import Headers, InboundRequest

blueprint = Blueprint("receiver", __name__)
log = logging.getLogger("hub.receive")


def _public_url(base: str | None) -> str:
    # Twilio signs the URL it called: behind a proxy, that is the configured public URL, never
    # one rebuilt from X-Forwarded-* headers a caller could forge.
    query = request.environ.get("QUERY_STRING", "")
    if not base:
        # Built from the WSGI environ: werkzeug's request.url re-encodes it, at a cost per request.
        environ = request.environ
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        base = f"{environ['wsgi.url_scheme']}://{host}{environ.get('SCRIPT_NAME', '')}"
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def _inbound(body: bytes, public_url: str | None) -> InboundRequest:
    """The current request as providers see it, received now."""
    return InboundRequest(
        method=request.method,
        url=_public_url(public_url),
        headers=Headers(request.headers.items()),
        body=body,
        received_at=datetime.now(UTC),
    )


@blueprint.route("/webhooks/<source_id>", methods=["POST", "GET", "PUT"])
def receive_webhook(source_id: str) -> tuple[Response, int]:
    started = time.perf_counter()
    hub = runtime()
    source = hub.source(source_id)
    if source is None:
        return _unknown_source(source_id)
    limit = source.max_body_bytes or hub.settings.max_body_bytes
    if (request.content_length or 0) > limit:
        return jsonify(error="too_large", message=f"body over {limit} bytes"), 413
    body = request.get_data(cache=False)
    if len(body) > limit:
        return jsonify(error="too_large", message=f"body over {limit} bytes"), 413
    inbound = _inbound(body, hub.config.public_url)
    result = receive(hub.receipt_writer, source, hub.provider(source), inbound, hub.refusals)
    metrics.REQUEST_LATENCY.labels(source=source_id).observe(time.perf_counter() - started)
    return jsonify(result.body), result.status


def _unknown_source(source_id: str) -> tuple[Response, int]:
    """Kept as a refused delivery: a source added to hub.yaml later can take it (`hub replay`)."""
    hub = runtime()
    message = f"no source {source_id[:64]!r} is configured"
    metrics.REFUSED.labels(source="(unknown)", reason="unknown_source").inc()
    kept = None
    limit = min(hub.settings.max_body_bytes, hub.refusals.policy.max_body_bytes)
    if (request.content_length or 0) <= limit:
        inbound = _inbound(request.get_data(cache=False), hub.config.public_url)
        kept = hub.refusals.keep(source_id, None, inbound, "unknown_source", message)
    log.warning(
        "refused delivery", extra={"source": "(unknown)", "reason": "unknown_source", "receipt_id": kept}
    )
    return jsonify(error="unknown_source", message=message), 404
