"""Replay: send again what failed, was rejected or held; re-parse what could not be parsed.

A replayed delivery goes back to `pending` with its retry budget renewed; the dispatcher sends
the call's state as it is now. Connectors recognise what they wrote before (stored ids,
upserts), so a replay never duplicates a CRM record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select, update

from hub.store.db import Database
from hub.store.models import Delivery, Receipt

# `delivered` too, on request: after a destination was fixed or restored, connectors recognise
# what they wrote before, so sending again updates instead of duplicating.
REPLAYABLE = ("rejected", "failed", "held", "skipped", "delivered")


@dataclass(frozen=True)
class DeliveryFilter:
    statuses: tuple[str, ...] = ("rejected", "failed", "held")
    destination: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[str, ...] = ()


class ReplayRefused(ValueError):
    pass


def matching_ids(selection: DeliveryFilter) -> Select[str]:
    """The ids of the deliveries a replay of `selection` sends again (raises ReplayRefused)."""
    bad = [s for s in selection.statuses if s not in REPLAYABLE]
    if bad:
        raise ReplayRefused(
            f"cannot replay deliveries that are {', '.join(bad)}; replayable: {', '.join(REPLAYABLE)}"
        )
    query = select(Delivery.id).where(Delivery.status.in_(selection.statuses))
    if selection.ids:
        query = query.where(Delivery.id.in_(selection.ids))
    if selection.destination:
        query = query.where(Delivery.destination == selection.destination)
    if selection.reason:
        query = query.where(Delivery.reason == selection.reason)
    if selection.since:
        query = query.where(Delivery.created_at >= selection.since)
    if selection.until:
        query = query.where(Delivery.created_at < selection.until)
    return query


def check_selection(db: Database, selection: DeliveryFilter) -> None:
    """Refuse ids that do not exist or whose status the selection leaves out, naming each."""
    if not selection.ids:
        return
    with db.read_session() as session:
        rows = session.execute(select(Delivery.id, Delivery.status).where(Delivery.id.in_(selection.ids)))
        found = {delivery_id: status for delivery_id, status in rows.tuples()}
    missing = [delivery_id for delivery_id in selection.ids if delivery_id not in found]
    if missing:
        raise ReplayRefused(f"no delivery {', '.join(missing)}")
    left_out = {
        delivery_id: status for delivery_id, status in found.items() if status not in selection.statuses
    }
    if left_out:
        described = ", ".join(
            f"{delivery_id} is {status}" for delivery_id, status in sorted(left_out.items())
        )
        statuses = " ".join(f"--status {status}" for status in sorted(set(left_out.values())))
        raise ReplayRefused(f"{described}; add {statuses} to send it again")


def replay_deliveries(db: Database, selection: DeliveryFilter) -> list[str]:
    now = datetime.now(UTC)
    with db.session() as session:
        ids = list(session.scalars(matching_ids(selection)))
        if ids:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.status.in_(selection.statuses))
                .values(
                    status="pending",
                    due_at=now,
                    retry_base=Delivery.attempts,
                    lease_until=None,
                    claim_token=None,
                    finished_at=None,
                    reason="replayed",
                    updated_at=now,
                )
            )
    return ids


def replay_receipts(db: Database, ids: tuple[int, ...] = (), source: str | None = None) -> list[int]:
    """Queue stored deliveries that failed to parse for parsing again (after a parser fix).

    A delivery ignored as not a call is re-parsed only when named by id: a bulk replay after a
    parser fix is about failures, not about the forms and chats a source also sends.
    """
    now = datetime.now(UTC)
    with db.session() as session:
        statuses = ("failed", "ignored") if ids else ("failed",)
        query = select(Receipt.id).where(Receipt.status.in_(statuses))
        if ids:
            query = query.where(Receipt.id.in_(ids))
        if source:
            query = query.where(Receipt.source == source)
        found = list(session.scalars(query))
        if found:
            session.execute(
                update(Receipt)
                .where(Receipt.id.in_(found), Receipt.status.in_(statuses))
                .values(
                    status="received", claimed_at=None, claim_token=None, lease_until=None, updated_at=now
                )
            )
    return found
