"""Paused destinations: their deliveries stay pending until someone resumes them.

A person pauses a destination from the console; a destination whose credentials are refused
pauses itself, so one broken login holds the calls instead of rejecting them one after another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import record as record_audit
from hub.store.models import DestinationPause

#: Delivery reasons that mean "the destination refused who we are", not "this call is wrong".
PAUSING_REASONS = frozenset({"unauthorized"})
PAUSED_BY_HUB = "hub"


def paused_destinations(session: Session) -> set[str]:
    """Ids of the destinations that are paused now."""
    return set(session.scalars(select(DestinationPause.destination)))


def pause(session: Session, destination: str, by: str, reason: str, now: datetime) -> bool:
    """Pause `destination`; False when it already was."""
    if session.get(DestinationPause, destination) is not None:
        return False
    session.add(DestinationPause(destination=destination, paused_by=by, reason=reason, paused_at=now))
    record_audit(session, by, "pause", {"reason": reason}, target=destination, at=now)
    return True


def resume(session: Session, destination: str, by: str, now: datetime) -> bool:
    """Resume `destination`; False when it was not paused."""
    row = session.get(DestinationPause, destination)
    if row is None:
        return False
    session.delete(row)
    record_audit(session, by, "resume", {}, target=destination, at=now)
    return True


def hold_for_credentials(
    session: Session, destination: str, values: dict[str, Any], message: str, now: datetime
) -> None:
    """The destination refused its credentials: pause it, and keep this delivery pending (its
    retry budget renewed) instead of rejected, to be sent once someone fixes the credentials
    and resumes. `values` are the delivery's new column values, changed in place."""
    pause(session, destination, PAUSED_BY_HUB, f"credentials refused: {message}", now)
    values.update(status="pending", reason="destination_paused", finished_at=None, due_at=now)
    values["retry_base"] = values["attempts"]
