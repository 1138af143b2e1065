"""The calls page's search box: one `q` that may be a phone number in any format, a call id, a
provider call id or a source, plus explicit filters (source, status, account, time)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from hub.core.phones import e164
from hub.queries import call_summary, delivery_statuses
from hub.store.models import Call, Delivery

PAGE_SIZE = 50
_PHONE_LIKE = re.compile(r"^[\d\s().+\-]{7,}$")


@dataclass(frozen=True)
class CallQuery:
    q: str = ""
    source: str | None = None
    #: a delivery status at any destination (delivered, failed, pending ...)
    status: str | None = None
    destination: str | None = None
    #: the call's own outcome (answered, missed, voicemail ...)
    call_status: str | None = None
    account: str | None = None
    first_time: bool = False
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1


def phone_of(text: str, region: str = "US") -> str | None:
    """E.164 when `text` looks like a phone number, whatever its punctuation."""
    value = text.strip()
    if not _PHONE_LIKE.match(value) or len(re.sub(r"\D", "", value)) < 7:
        return None
    return e164(value, region)


def build(query: CallQuery, sources: list[str]) -> Select[Call]:
    statement: Select[Call] = select(Call)
    text = query.q.strip()
    if text:
        number = phone_of(text)
        if number:
            statement = statement.where(Call.caller_number == number)
        elif text in sources:
            statement = statement.where(Call.source == text)
        else:
            statement = statement.where(or_(Call.id == text, Call.provider_call_id == text))
    if query.source:
        statement = statement.where(Call.source == query.source)
    if query.account:
        statement = statement.where(
            or_(
                Call.state[("account", "id")].as_string() == query.account,
                Call.state[("account", "name")].as_string() == query.account,
            )
        )
    if query.call_status:
        statement = statement.where(Call.state[("call", "status")].as_string() == query.call_status)
    if query.first_time:
        statement = statement.where(Call.state[("call", "first_call")].as_string().in_(("true", "1")))
    if query.since:
        statement = statement.where(Call.first_event_at >= query.since)
    if query.until:
        statement = statement.where(Call.first_event_at < query.until)
    if query.status or query.destination:
        deliveries = select(Delivery.call_id).where(Delivery.superseded_by.is_(None))
        if query.status:
            deliveries = deliveries.where(Delivery.status == query.status)
        if query.destination:
            deliveries = deliveries.where(Delivery.destination == query.destination)
        statement = statement.where(Call.id.in_(deliveries))
    return statement


def search(session: Session, query: CallQuery, sources: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of call summaries with each destination's newest status)."""
    statement = build(query, sources)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(Call.first_event_at.desc())
        .limit(PAGE_SIZE)
        .offset((max(query.page, 1) - 1) * PAGE_SIZE)
    ).all()
    statuses = delivery_statuses(session, [row.id for row in rows])
    return total, [call_summary(row, statuses) for row in rows]
