"""A plain audit trail of operations on stored data: who, when, what (erasure, pruning)."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.store.models import AuditEntry


def record(
    session: Session,
    actor: str,
    action: str,
    detail: Mapping[str, Any],
    *,
    target: str | None = None,
    at: datetime | None = None,
) -> None:
    """Add an entry in the caller's transaction, so it exists exactly when the change does."""
    session.add(
        AuditEntry(
            at=at or datetime.now(UTC),
            actor=actor[:128],
            action=action,
            target=target,
            detail=dict(detail),
        )
    )


def cli_actor() -> str:
    """The operator at a terminal, as the audit trail names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
