"""SQLAlchemy models. Migrations in hub/migrations must follow any change here (a test compares)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Receipt(Base):
    """One HTTP delivery from a provider, kept raw so it can be re-parsed after a fix."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("source", "receipt_key", name="uq_receipts_source_key"),
        Index("ix_receipts_status_id", "status", "id"),
        Index("ix_receipts_status_claim", "status", "claim_token", "lease_until"),
        Index("ix_receipts_received_at", "received_at"),
        Index("ix_receipts_status_source_received", "status", "source", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    receipt_key: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]
    #: received -> parsed | failed (parse error, kept for replay) | ignored (not a call; reason in
    #: error_reason/error); refused (bad signature, stale time, unknown source: kept so it can be
    #: re-verified) -> received once it verifies, or duplicate when the same delivery was received
    #: meanwhile; forgotten (erased by `hub forget`: body and headers emptied)
    status: Mapped[str] = mapped_column(String(16), default="received")
    error_reason: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    events_count: Mapped[int] = mapped_column(Integer, default=0)
    parse_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When a dispatcher last handed it to a worker (for people; `lease_until` decides).
    claimed_at: Mapped[datetime | None]
    #: The current claim: only the job holding this token may record the receipt's outcome.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    #: While claimed: when the claim lapses unless its worker renews it (heartbeat).
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    #: A refused delivery's credentials (token, basic auth), salted and stretched: never kept in
    #: clear, yet enough to re-verify it against the secrets configured later.
    credential_digest: Mapped[str | None] = mapped_column(Text)


class Call(Base):
    """A call's current state: every version received so far, merged."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("source", "provider_call_id", name="uq_calls_source_call"),
        Index("ix_calls_caller_number", "caller_number"),
        Index("ix_calls_last_event_at", "last_event_at"),
        # Call searches filter and order on when the call happened.
        Index("ix_calls_first_event_at", "first_event_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    provider_call_id: Mapped[str] = mapped_column(String(255))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    first_event_at: Mapped[datetime]
    last_event_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """One version of a call, exactly as normalized from one delivery."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_call_id", "call_id"), Index("ix_events_receipt_id", "receipt_id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"))
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Delivery(Base):
    """One call version to one destination: its status decides what happens next."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "destination", name="uq_deliveries_event_destination"),
        Index("ix_deliveries_status_due", "status", "due_at"),
        Index("ix_deliveries_call_destination", "call_id", "destination"),
        Index("ix_deliveries_destination_status_due", "destination", "status", "due_at"),
        # Partial: only folded deliveries have it, and a job asks for those of its batch.
        Index(
            "ix_deliveries_superseded_by",
            "superseded_by",
            sqlite_where=text("superseded_by IS NOT NULL"),
            postgresql_where=text("superseded_by IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    destination: Mapped[str] = mapped_column(String(64))
    #: pending | queued | sending | delivered | skipped | held | rejected | failed
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: `attempts` when the delivery was last replayed: retries are counted from there.
    retry_base: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    #: While queued or sending: when the claim lapses unless its worker renews it (heartbeat).
    lease_until: Mapped[datetime | None]
    #: The current claim: only the job holding this token may send or record this delivery.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    external_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: What the mappings rendered at the latest attempt: [{mapping, target, fields}], the basis of
    #: `hub preview --mapping` comparisons ("what was actually sent").
    records: Mapped[list[Any] | None] = mapped_column(JSON)
    superseded_by: Mapped[str | None] = mapped_column(String(40))
    #: Content hash of the destination's mapping files that rendered `records` (see hub.render).
    mapping_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Batch(Base):
    """One connector call for several deliveries, with the requests they shared (kept once)."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    destination: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    exchanges: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Attempt(Base):
    """One try at a delivery, with what was sent and answered for it (trimmed)."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"))
    #: The batch whose shared requests (a collection, a batch upsert) also served this attempt.
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    #: delivered | skipped | held | retry | rejected | failed
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    retry_after_s: Mapped[float | None]
    exchanges: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: The mapping files' content hash this attempt rendered with.
    mapping_version: Mapped[str | None] = mapped_column(String(64))


class ConnectorState(Base):
    """What a connector remembers per destination (record ids it wrote, GA4 events it sent)."""

    __tablename__ = "connector_state"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class ForgottenCaller(Base):
    """A caller erased by `hub forget`: a late redelivery of their calls is not stored again."""

    __tablename__ = "forgotten_callers"

    #: SHA-256 of the E.164 number (hub.erasure.number_hash), never the number itself.
    number_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    forgotten_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what, and when: erasure and pruning, and the console's admin actions (logins,
    replays, pauses and resumes, issue states, user changes). Never edited."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    #: "cli:<user>", "api:<remote address>", "dispatcher", a console user name, or "hub".
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    #: What it acted on (a destination, a delivery, a replay job, a user), when one thing.
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ConsoleUser(Base):
    """Someone who may log in to the console: an admin (everything) or a viewer (read only)."""

    __tablename__ = "console_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    #: "scrypt$n$r$p$salt$hash" (hashlib.scrypt, memory-hard).
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LoginFailure(Base):
    """A refused login, counted per user name and address to throttle guessing."""

    __tablename__ = "console_login_failures"
    __table_args__ = (Index("ix_console_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: "name|address"
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class DestinationPause(Base):
    """A paused destination: its deliveries stay pending until it is resumed."""

    __tablename__ = "destination_pauses"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: A user name, or "hub" when the destination paused itself (credentials refused).
    paused_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime]


class IssueState(Base):
    """What people decided about one group of failures (destination + reason)."""

    __tablename__ = "issue_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: open | acknowledged | resolved
    state: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]


class ReplayJob(Base):
    """ "Retry all N matching": a background replay with its progress, cancellable."""

    __tablename__ = "replay_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(64))
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    #: queued | running | finished | cancelled
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertSent(Base):
    """When each alert rule last sent a message: at most one per rule per window (the digest)."""

    __tablename__ = "alerts_sent"

    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table), "a mapped class declares one table"
    return table


# The tables of the rows the hot paths write in bulk or claim, for Core statements built once:
# an ORM statement costs its own construction and session bookkeeping on every run.
RECEIPTS = _table(Receipt)
CALLS = _table(Call)
EVENTS = _table(Event)
DELIVERIES = _table(Delivery)
BATCHES = _table(Batch)
ATTEMPTS = _table(Attempt)
CONNECTOR_STATE = _table(ConnectorState)
