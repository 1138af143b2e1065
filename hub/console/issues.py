"""Failures grouped by destination, reason and the destination's error code, each with a hint
about the usual fix and a state people set (open, acknowledged, resolved)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.store.models import Attempt, Delivery, IssueState

FAILED_STATUSES = ("failed", "rejected", "held")
STATES = ("open", "acknowledged", "resolved")

#: What usually fixes each known cause (reason slugs are stable: see hub/core/errors.py).
HINTS = {
    "unauthorized": "The destination refused the credentials: renew the token or password in the "
    "environment, restart, run `hub check --online`, then resume the destination and retry.",
    "permission": "The integration user lacks a permission (object, field or scope): grant it in the CRM, then retry.",
    "mapping": "A mapping rendered a value the destination refuses: fix the mapping file (see the Mappings "
    "page preview), then retry.",
    "rejected": "The destination refused the record as sent: open a delivery to read its response, fix the mapping or "
    "the record in the CRM, then retry.",
    "config": "hub.yaml or the destination's options are incomplete: run `hub check`, fix, restart, retry.",
    "rate_limited": "The destination's rate limit was hit repeatedly: lower rate_limit in hub.yaml or raise "
    "the plan's limit, then retry.",
    "unavailable": "The destination answered 5xx for every attempt: check its status page; retry once it is back.",
    "timeout": "The destination did not answer in time: check its status, raise timeout_s if it is slow, retry.",
    "unreachable": "The hub could not connect: check DNS, firewall and the destination URL, then retry.",
    "lease_expired": "The worker handling these stopped mid-send (crash or restart): check worker logs, then retry.",
    "no_ga_client_id": "The call carries no GA client id: install the provider's GA integration so calls "
    "carry the visitor's client id.",
    "too_old": "GA4 accepts events up to 72 hours old only: these cannot be sent; resolve the issue.",
    "redirect": "The webhook URL redirects: configure the final URL.",
    "destination_paused": "The destination is paused: resume it on the Destinations page.",
}
#: Per destination and reason, this many newest failures are read for their error codes.
CLASSIFIED_PER_GROUP = 500
DEFAULT_HINT = "Open a delivery below to read the request and response, fix the cause, then retry."


@dataclass(frozen=True)
class IssueGroup:
    key: str
    destination: str
    reason: str
    code: str
    count: int
    last_at: datetime | None
    state: str
    hint: str
    sample_delivery: str


def issue_key(destination: str, reason: str, code: str) -> str:
    return f"{destination}|{reason}|{code}"


def _code(session: Session, delivery_id: str) -> str:
    """The destination's answer to the newest attempt: an HTTP status, or "-" when none came."""
    attempt = session.scalars(
        select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.id.desc()).limit(1)
    ).first()
    statuses = [x.get("status") for x in (attempt.exchanges if attempt else []) if isinstance(x, dict)]
    answered = [s for s in statuses if isinstance(s, int) and s >= 400]
    return str(answered[-1]) if answered else "-"


def _state(decided: tuple[str, datetime] | None, last_failure: datetime | None) -> str:
    """A resolved issue that failed again since is open again; acknowledged stays acknowledged."""
    if decided is None:
        return "open"
    state, changed_at = decided
    if state == "resolved" and last_failure is not None and last_failure > changed_at:
        return "open"
    return state


def issue_groups(session: Session, since: datetime | None = None) -> list[IssueGroup]:
    """One group per destination, reason and error code among failed, rejected and held deliveries."""
    query = (
        select(Delivery.destination, Delivery.reason, func.count(), func.max(Delivery.updated_at))
        .where(Delivery.status.in_(FAILED_STATUSES), Delivery.superseded_by.is_(None))
        .group_by(Delivery.destination, Delivery.reason)
    )
    if since:
        query = query.where(Delivery.updated_at >= since)
    states = {row.key: (row.state, row.changed_at) for row in session.scalars(select(IssueState))}
    groups: dict[str, dict[str, Any]] = {}
    for destination, reason, count, _last in session.execute(query).all():
        ids = session.execute(
            select(Delivery.id, Delivery.updated_at)
            .where(
                Delivery.status.in_(FAILED_STATUSES),
                Delivery.superseded_by.is_(None),
                Delivery.destination == destination,
                Delivery.reason == reason if reason is not None else Delivery.reason.is_(None),
            )
            .order_by(Delivery.updated_at.desc())
            .limit(CLASSIFIED_PER_GROUP)
        ).all()
        first_key = None
        for delivery_id, updated_at in ids:
            code = _code(session, delivery_id)
            key = issue_key(destination, reason or "unknown", code)
            group = groups.setdefault(
                key,
                {
                    "destination": destination,
                    "reason": reason or "unknown",
                    "code": code,
                    "count": 0,
                    "last_at": updated_at,
                    "sample": delivery_id,
                },
            )
            group["count"] += 1
            first_key = first_key or key
        if first_key and count > len(ids):
            # Older failures beyond the classified ones are counted with the newest's code.
            groups[first_key]["count"] += count - len(ids)
    return sorted(
        (
            IssueGroup(
                key=key,
                destination=g["destination"],
                reason=g["reason"],
                code=g["code"],
                count=g["count"],
                last_at=g["last_at"],
                state=_state(states.get(key), g["last_at"]),
                hint=HINTS.get(g["reason"], DEFAULT_HINT),
                sample_delivery=g["sample"],
            )
            for key, g in groups.items()
        ),
        key=lambda g: (STATES.index(g.state), -g.count),
    )
