"""The webhook request path: verify, store the raw delivery durably, answer.

Parsing happens in a worker: the request stays cheap and a payload the hub cannot parse is
already stored (with its error, later) instead of lost. Nothing here touches Redis, so a Redis
outage never costs a delivery: the dispatcher picks stored receipts up when it can.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select

from hub import metrics
from hub.config import SourceConfig
from hub.core.errors import SignatureError
from hub.refusals import RefusalKeeper
from hub.store.db import Database
from hub.store.models import Receipt
from hub.store.receipt_writer import ReceiptWriter
from webhooks.base import CREDENTIAL_PARAM, InboundRequest, Provider

log = logging.getLogger("hub.receive")

# Headers never stored: credentials, cookies.
_DROP_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-hub-token", "x-api-key"})


@dataclass(frozen=True)
class Received:
    status: int
    body: dict[str, object]


def masked_url(url: str, params: frozenset[str] = frozenset()) -> str:
    parts = urlsplit(url)
    secret_params = {p.lower() for p in params}
    query = [
        (k, "********" if CREDENTIAL_PARAM.match(k) or k.lower() in secret_params else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def stored_headers(request: InboundRequest, headers: frozenset[str] = frozenset()) -> dict[str, str]:
    dropped = _DROP_HEADERS | {h.lower() for h in headers}
    return {name: value for name, value in request.headers.items() if name.lower() not in dropped}


def receive(
    writer: ReceiptWriter,
    source: SourceConfig,
    provider: Provider,
    request: InboundRequest,
    refusals: RefusalKeeper | None = None,
) -> Received:
    if source.insecure:
        log.warning(
            "accepting an unverified delivery: source is configured insecure", extra={"source": source.id}
        )
    else:
        try:
            provider.verify(request, [s.reveal() for s in source.secrets], request.received_at)
        except SignatureError as exc:
            metrics.REFUSED.labels(source=source.id, reason=exc.reason).inc()
            kept = refusals.keep(source.id, provider, request, exc.reason, exc.message) if refusals else None
            log.warning(
                "refused delivery",
                extra={"source": source.id, "reason": exc.reason, "detail": exc.message, "receipt_id": kept},
            )
            return Received(401, {"error": exc.reason, "message": exc.message})

    key = provider.receipt_key(request)
    now = datetime.now(UTC)
    secret_headers, secret_params = provider.credential_carriers()
    values = {
        "source": source.id,
        "provider": provider.slug,
        "receipt_key": key,
        "method": request.method,
        "url": masked_url(request.url, secret_params),
        "headers": stored_headers(request, secret_headers),
        "body": request.body,
        "received_at": request.received_at,
        "status": "received",
        "events_count": 0,
        "parse_attempts": 0,
        "updated_at": now,
    }
    try:
        receipt_id = writer.insert(values)
    except writer.duplicate_errors:
        existing = _existing(writer.db, source.id, key)
        metrics.RECEIVED.labels(source=source.id, outcome="duplicate").inc()
        log.info("duplicate delivery", extra={"source": source.id, "receipt_id": existing})
        return Received(200, {"status": "duplicate", "receipt_id": existing})
    except writer.storage_errors as exc:
        metrics.RECEIVED.labels(source=source.id, outcome="unstored").inc()
        log.error(
            "cannot store delivery", extra={"source": source.id, "detail": f"{type(exc).__name__}: {exc}"}
        )
        return Received(
            503, {"error": "storage_unavailable", "message": "the hub cannot store deliveries right now"}
        )
    metrics.RECEIVED.labels(source=source.id, outcome="accepted").inc()
    log.info(
        "received delivery", extra={"source": source.id, "receipt_id": receipt_id, "bytes": len(request.body)}
    )
    return Received(202, {"status": "accepted", "receipt_id": receipt_id})


def _existing(db: Database, source_id: str, key: str) -> int | None:
    with db.read_session() as session:
        return session.scalar(
            select(Receipt.id).where(Receipt.source == source_id, Receipt.receipt_key == key)
        )
