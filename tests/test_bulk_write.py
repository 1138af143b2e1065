"""BulkInsert and BulkWrite store exactly what SQLAlchemy's own executemany stores, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text, update

from hub.store.bulk import BulkInsert, BulkWrite
from hub.store.db import Database
from hub.store.models import CALLS, CONNECTOR_STATE

MOMENT = datetime(2024, 3, 12, 18, 22, 7, 123456, tzinfo=UTC)


def _call(key: str) -> dict[str, Any]:
    return {
        "id": key,
        "source": "callrail",
        "provider": "callrail",
        "provider_call_id": key,
        "kind": "completed",
        "state": {"caller": {"number": "+14155550100", "name": "Zoë"}, "tags": ["a", 1, None], "n": 1.5},
        "version_count": 1,
        "first_event_at": MOMENT,
        "last_event_at": MOMENT + timedelta(seconds=1),
        "updated_at": MOMENT,
    }


def _stored(db: Database, keys: list[str]) -> list[tuple[Any, ...]]:
    """The rows as the database holds them, every column cast to text (no result processing)."""
    with db.read_session() as session:
        # Ids and provider ids differ by design; every other column must be the same text.
        columns = [c.name for c in CALLS.columns if c.name not in ("id", "provider_call_id")]
        listed = ", ".join(f"CAST({c} AS TEXT)" for c in columns)
        query = text(f"SELECT {listed} FROM calls WHERE id IN :keys ORDER BY id")  # noqa: S608
        found = session.execute(query.bindparams(bindparam("keys", expanding=True)), {"keys": keys})
        return [tuple(row) for row in found]


def test_an_insert_stores_what_sqlalchemy_stores(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    write = BulkInsert(CALLS)
    try:
        with db.session() as session:
            connection = session.connection()
            write.execute(connection, [_call("bulk-1"), _call("bulk-2")])
            connection.execute(insert(CALLS), [_call("orm-1"), _call("orm-2")])
            write.execute(connection, [])
        assert _stored(db, ["bulk-1", "bulk-2"]) == _stored(db, ["orm-1", "orm-2"])
        with db.read_session() as session:
            state, first = session.execute(
                select(CALLS.c.state, CALLS.c.first_event_at).where(CALLS.c.id == "bulk-2")
            ).one()
        assert state == _call("x")["state"]
        assert first == MOMENT
    finally:
        db.dispose()


def test_an_update_fills_in_the_statements_own_values(database_url: str) -> None:
    """Constants of the statement (`kind="completed"`, a WHERE on a fixed kind), a parameter
    used twice, and per-row ones, as one executemany."""
    db = Database(database_url)
    db.migrate()
    complete = BulkWrite(
        update(CALLS)
        .where(CALLS.c.id == bindparam("b_id"), CALLS.c.kind == "started")
        .values(
            kind="completed",
            caller_number=bindparam("b_number"),
            updated_at=bindparam("b_now"),
            last_event_at=bindparam("b_now"),
        )
    )
    later = MOMENT + timedelta(minutes=5)
    rows = [
        {**_call(key), "kind": kind} for key, kind in (("c1", "started"), ("c2", "started"), ("c3", "missed"))
    ]
    try:
        with db.session() as session:
            connection = session.connection()
            connection.execute(insert(CALLS), rows)
            complete.execute(
                connection,
                [
                    {"b_id": key, "b_number": f"+1415555010{n}", "b_now": later}
                    for n, key in enumerate(("c1", "c2", "c3"))
                ],
            )
        with db.read_session() as session:
            stored = session.execute(
                select(
                    CALLS.c.id, CALLS.c.kind, CALLS.c.caller_number, CALLS.c.updated_at, CALLS.c.last_event_at
                ).order_by(CALLS.c.id)
            ).all()
        assert [tuple(row) for row in stored] == [
            ("c1", "completed", "+14155550100", later, later),
            ("c2", "completed", "+14155550101", later, later),
            ("c3", "missed", None, MOMENT, MOMENT + timedelta(seconds=1)),
        ]
    finally:
        db.dispose()


def test_an_upsert_replaces_the_other_columns_of_a_colliding_row(database_url: str) -> None:
    """`upsert_on`: one row per key, holding the newest row's values; new keys are inserted."""
    db = Database(database_url)
    db.migrate()
    put = BulkInsert(CONNECTOR_STATE, upsert_on=("destination", "key"))
    later = MOMENT + timedelta(minutes=5)
    try:
        with db.session() as session:
            put.execute(
                session.connection(),
                [
                    {"destination": "ga4", "key": "call:a", "value": {"n": 1}, "updated_at": MOMENT},
                    {"destination": "ga4", "key": "call:b", "value": {"n": 1}, "updated_at": MOMENT},
                ],
            )
        with db.session() as session:
            put.execute(
                session.connection(),
                [
                    {
                        "destination": "ga4",
                        "key": "call:b",
                        "value": {"n": 2, "é": [None]},
                        "updated_at": later,
                    },
                    {"destination": "crm", "key": "call:b", "value": {"n": 3}, "updated_at": later},
                ],
            )
        with db.read_session() as session:
            stored = session.execute(
                select(CONNECTOR_STATE).order_by(CONNECTOR_STATE.c.destination, CONNECTOR_STATE.c.key)
            ).all()
        assert [tuple(row) for row in stored] == [
            ("crm", "call:b", {"n": 3}, later),
            ("ga4", "call:a", {"n": 1}, MOMENT),
            ("ga4", "call:b", {"n": 2, "é": [None]}, later),
        ]
    finally:
        db.dispose()


def test_a_conflict_is_skipped_or_updated_not_both() -> None:
    with pytest.raises(ValueError, match="skipped or updated"):
        BulkInsert(CONNECTOR_STATE, skip_conflicts=True, upsert_on=("destination", "key"))
