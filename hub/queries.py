"""Read side of the store for the admin API, the CLI and the dashboard: plain JSON-ready dicts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from hub.core.phones import e164
from hub.store.models import Attempt, Batch, Call, Delivery, Event, Receipt

MAX_LIMIT = 500


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class CallSearchError(ValueError):
    """A call filter the search cannot use; the message names it (never echoes a number)."""


@dataclass(frozen=True)
class CallSearch:
    """One call search, the same for the API (`/api/events`), the console and `hub calls`."""

    #: Free text (the console's search box, `hub show`): a phone number in any format, the hub's
    #: or the provider's call id, or a source; a call matching any of these readings is found.
    text: str | None = None
    #: A phone number in any format; one that is no usable number is refused (CallSearchError).
    phone: str | None = None
    #: The hub's call id or the provider's.
    call_id: str | None = None
    source: str | None = None
    #: The status of a current delivery (not one superseded by a newer version) at any destination.
    status: str | None = None
    destination: str | None = None
    #: The call's own outcome (answered, missed, voicemail ...).
    call_status: str | None = None
    #: The provider account's id or name.
    account: str | None = None
    first_time: bool = False
    #: On when the call happened (its first event), as the console's charts count calls.
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


_PHONE_LIKE = re.compile(r"^[\d\s().+\-]{7,}$")


def phone_of(text: str, region: str = "US") -> str | None:
    """E.164 when free text looks like a phone number, whatever its punctuation."""
    value = text.strip()
    if not _PHONE_LIKE.match(value) or len(re.sub(r"\D", "", value)) < 7:
        return None
    return e164(value, region)


def search_calls(session: Session, search: CallSearch) -> dict[str, Any]:
    """Calls matching `search`, newest call first: total, limit, offset and one page of items."""
    query = _calls_matching(search)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    limit = max(1, min(search.limit, MAX_LIMIT))
    offset = max(search.offset, 0)
    rows = session.scalars(
        query.order_by(Call.first_event_at.desc(), Call.id.desc()).limit(limit).offset(offset)
    ).all()
    statuses = delivery_statuses(session, [row.id for row in rows])
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [call_summary(r, statuses) for r in rows],
    }


def _calls_matching(search: CallSearch) -> Select[Call]:
    query: Select[Call] = select(Call)
    text = (search.text or "").strip()
    if text:
        readings = [Call.id == text, Call.provider_call_id == text, Call.source == text]
        number = phone_of(text)
        if number:
            readings.append(Call.caller_number == number)
        query = query.where(or_(*readings))
    if search.phone:
        number = e164(search.phone)
        if number is None:
            raise CallSearchError(
                "phone is not a usable phone number (give the area code, or + and the country code)"
            )
        query = query.where(Call.caller_number == number)
    if search.call_id:
        query = query.where(or_(Call.id == search.call_id, Call.provider_call_id == search.call_id))
    if search.source:
        query = query.where(Call.source == search.source)
    if search.account:
        query = query.where(
            or_(
                Call.state[("account", "id")].as_string() == search.account,
                Call.state[("account", "name")].as_string() == search.account,
            )
        )
    if search.call_status:
        query = query.where(Call.state[("call", "status")].as_string() == search.call_status)
    if search.first_time:
        query = query.where(Call.state[("call", "first_call")].as_string().in_(("true", "1")))
    if search.since:
        query = query.where(Call.first_event_at >= search.since)
    if search.until:
        query = query.where(Call.first_event_at < search.until)
    if search.status or search.destination:
        deliveries = select(Delivery.call_id).where(Delivery.superseded_by.is_(None))
        if search.status:
            deliveries = deliveries.where(Delivery.status == search.status)
        if search.destination:
            deliveries = deliveries.where(Delivery.destination == search.destination)
        query = query.where(Call.id.in_(deliveries))
    return query


def delivery_statuses(session: Session, call_ids: list[str]) -> dict[str, dict[str, str]]:
    """Per call, per destination: the status of the newest current (not superseded) delivery."""
    result: dict[str, dict[str, str]] = {}
    if not call_ids:
        return result
    rows = session.execute(
        select(Delivery.call_id, Delivery.destination, Delivery.status)
        .where(Delivery.call_id.in_(call_ids), Delivery.superseded_by.is_(None))
        .order_by(Delivery.created_at, Delivery.id)
    )
    for call_id, destination, status in rows:
        result.setdefault(call_id, {})[destination] = status
    return result


def call_summary(call: Call, statuses: dict[str, dict[str, str]]) -> dict[str, Any]:
    state = call.state
    return {
        "id": call.id,
        "source": call.source,
        "provider": call.provider,
        "provider_call_id": call.provider_call_id,
        "kind": call.kind,
        "caller_number": call.caller_number,
        "caller_name": (state.get("caller") or {}).get("name"),
        "status": (state.get("call") or {}).get("status"),
        "started_at": (state.get("call") or {}).get("started_at"),
        "campaign": (state.get("attribution") or {}).get("campaign"),
        "versions": call.version_count,
        "first_event_at": iso(call.first_event_at),
        "last_event_at": iso(call.last_event_at),
        "destinations": statuses.get(call.id, {}),
    }


def call_detail(session: Session, call_id: str) -> dict[str, Any] | None:
    call = session.get(Call, call_id)
    if call is None:
        return None
    events = session.scalars(select(Event).where(Event.call_id == call.id).order_by(Event.occurred_at)).all()
    receipt_ids = sorted({event.receipt_id for event in events})
    receipts = session.scalars(select(Receipt).where(Receipt.id.in_(receipt_ids))).all()
    deliveries = session.scalars(
        select(Delivery).where(Delivery.call_id == call.id).order_by(Delivery.created_at)
    ).all()
    attempts = attempts_for(session, [d.id for d in deliveries])
    return {
        **call_summary(call, delivery_statuses(session, [call.id])),
        "state": call.state,
        "versions": [
            {
                "id": e.id,
                "kind": e.kind,
                "occurred_at": iso(e.occurred_at),
                "receipt_id": e.receipt_id,
                "event": e.payload,
            }
            for e in events
        ],
        "receipts": [receipt_detail(r) for r in receipts],
        "deliveries": [delivery_detail(d, attempts.get(d.id, [])) for d in deliveries],
    }


def attempts_for(session: Session, delivery_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each delivery's attempts, oldest first, with the requests they made (their own and the
    ones their batch shared)."""
    attempts: list[Attempt] = []
    if delivery_ids:
        attempts = list(
            session.scalars(select(Attempt).where(Attempt.delivery_id.in_(delivery_ids)).order_by(Attempt.id))
        )
    batch_ids = {a.batch_id for a in attempts if a.batch_id}
    batches = (
        {b.id: b for b in session.scalars(select(Batch).where(Batch.id.in_(batch_ids)))} if batch_ids else {}
    )
    result: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        batch = batches.get(a.batch_id or "")
        result.setdefault(a.delivery_id, []).append(
            {
                "number": a.number,
                "started_at": iso(a.started_at),
                "finished_at": iso(a.finished_at),
                "outcome": a.outcome,
                "reason": a.reason,
                "message": a.message,
                "retry_after_s": a.retry_after_s,
                "mapping_version": a.mapping_version,
                "exchanges": a.exchanges,
                "batch": {"id": batch.id, "size": batch.size, "exchanges": batch.exchanges}
                if batch
                else None,
            }
        )
    return result


def receipt_detail(receipt: Receipt, *, with_body: bool = True) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "id": receipt.id,
        "source": receipt.source,
        "provider": receipt.provider,
        "method": receipt.method,
        "url": receipt.url,
        "received_at": iso(receipt.received_at),
        "status": receipt.status,
        "error_reason": receipt.error_reason,
        "error": receipt.error,
        "events_count": receipt.events_count,
        "parse_attempts": receipt.parse_attempts,
    }
    if with_body:
        detail["headers"] = receipt.headers
        detail["body"] = receipt.body.decode("utf-8", "replace")
    return detail


def delivery_detail(delivery: Delivery, attempts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "id": delivery.id,
        "call_id": delivery.call_id,
        "event_id": delivery.event_id,
        "destination": delivery.destination,
        "status": delivery.status,
        "reason": delivery.reason,
        "message": delivery.message,
        "attempts": delivery.attempts,
        "due_at": iso(delivery.due_at),
        "external_ids": delivery.external_ids,
        "records": delivery.records,
        "mapping_version": delivery.mapping_version,
        "superseded_by": delivery.superseded_by,
        "created_at": iso(delivery.created_at),
        "finished_at": iso(delivery.finished_at),
    }
    if attempts is not None:
        detail["attempt_history"] = attempts
    return detail


@dataclass(frozen=True)
class DeliverySearch:
    status: str | None = None
    destination: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


def search_deliveries(session: Session, search: DeliverySearch) -> dict[str, Any]:
    query: Select[Delivery] = select(Delivery)
    if search.status:
        query = query.where(Delivery.status == search.status)
    if search.destination:
        query = query.where(Delivery.destination == search.destination)
    if search.reason:
        query = query.where(Delivery.reason == search.reason)
    if search.since:
        query = query.where(Delivery.created_at >= search.since)
    if search.until:
        query = query.where(Delivery.created_at < search.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    limit = max(1, min(search.limit, MAX_LIMIT))
    rows = session.scalars(
        query.order_by(Delivery.created_at.desc()).limit(limit).offset(search.offset)
    ).all()
    return {
        "total": total,
        "limit": limit,
        "offset": search.offset,
        "items": [delivery_detail(r) for r in rows],
    }


def search_receipts(
    session: Session, status: str | None, source: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query: Select[Receipt] = select(Receipt)
    if status:
        query = query.where(Receipt.status == status)
    if source:
        query = query.where(Receipt.source == source)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    limit = max(1, min(limit, MAX_LIMIT))
    rows = session.scalars(query.order_by(Receipt.id.desc()).limit(limit).offset(offset)).all()
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [receipt_detail(r, with_body=False) for r in rows],
    }


def stats(session: Session) -> dict[str, Any]:
    deliveries: dict[str, dict[str, int]] = {}
    for destination, status, count in session.execute(
        select(Delivery.destination, Delivery.status, func.count()).group_by(
            Delivery.destination, Delivery.status
        )
    ):
        deliveries.setdefault(destination, {})[status] = count
    receipts: dict[str, dict[str, int]] = {}
    for source, status, count in session.execute(
        select(Receipt.source, Receipt.status, func.count()).group_by(Receipt.source, Receipt.status)
    ):
        receipts.setdefault(source, {})[status] = count
    return {"deliveries": deliveries, "receipts": receipts}
