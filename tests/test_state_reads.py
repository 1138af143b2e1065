"""Connector state read for a whole batch at once: one query per few hundred keys, on SQLite and
PostgreSQL, and the batch's own writes seen before they are stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import event

from hub.coordination import SharedContext
from hub.store.db import Database
from hub.store.state import READ_CHUNK, DatabaseStateStore


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def selects(db: Database) -> Iterator[list[str]]:
    """Every SELECT on connector_state the store runs while the test does."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "connector_state" in statement:
            seen.append(statement)

    event.listen(db.read_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.read_engine, "before_cursor_execute", record)


def test_every_key_is_answered_in_one_query_none_where_nothing_is_stored(
    db: Database, selects: list[str]
) -> None:
    store = DatabaseStateStore(db)
    store.put_many("hubspot", {"contact:1": {"id": "101"}, "call:CAL1": {"id": "7", "contact": "101"}})
    store.put("salesforce", "contact:2", {"id": "003A"})
    selects.clear()

    values = store.get_many("hubspot", ["contact:1", "contact:2", "call:CAL1", "contact:1"])

    assert values == {
        "contact:1": {"id": "101"},
        # Stored for another destination only.
        "contact:2": None,
        "call:CAL1": {"id": "7", "contact": "101"},
    }
    assert len(selects) == 1
    assert store.get_many("hubspot", []) == {}
    assert len(selects) == 1, "no keys, no query"
    # Every read is the stored value, never an object a caller changed.
    first = values["contact:1"]
    assert first is not None
    first["id"] = "changed"
    assert store.get_many("hubspot", ["contact:1"]) == {"contact:1": {"id": "101"}}


def test_a_long_key_list_is_read_in_chunks(db: Database, selects: list[str]) -> None:
    store = DatabaseStateStore(db)
    keys = [f"contact:{index:05d}" for index in range(2 * READ_CHUNK + 1)]
    store.put_many("hubspot", {key: {"id": key[-5:]} for key in keys[::2]})
    selects.clear()

    values = store.get_many("hubspot", keys)

    assert len(selects) == 3
    assert list(values) == keys
    assert values == {key: {"id": key[-5:]} if index % 2 == 0 else None for index, key in enumerate(keys)}


def test_a_batch_reads_what_it_wrote_before_it_is_stored(
    db: Database, selects: list[str], redis_url: str
) -> None:
    store = DatabaseStateStore(db)
    store.put_many("hubspot", {"call:CAL1": {"id": "7"}, "call:CAL2": {"id": "8"}})
    client = redis.Redis.from_url(redis_url)
    context = SharedContext(client, "hubspot", store)
    keys = ["call:CAL1", "call:CAL2", "call:CAL3", "call:CAL4"]
    selects.clear()

    with context.batched_state():
        context.put_state("call:CAL2", {"id": "8", "contact": "101"})
        context.put_state("call:CAL3", {"id": "9"})
        inside = context.get_states(keys)
        assert len(selects) == 1, "the keys not written in the batch, in one query"
        assert context.get_states(["call:CAL2", "call:CAL3"]) == {
            "call:CAL2": {"id": "8", "contact": "101"},
            "call:CAL3": {"id": "9"},
        }
        assert len(selects) == 1, "only keys written in the batch: no query"
        assert inside == {key: context.get_state(key) for key in keys}
        # A caller changing what it read does not change what the batch will store.
        written = inside["call:CAL3"]
        assert written is not None
        written["id"] = "changed"

    assert inside == {
        "call:CAL1": {"id": "7"},
        "call:CAL2": {"id": "8", "contact": "101"},
        "call:CAL3": {"id": "changed"},
        "call:CAL4": None,
    }
    assert context.get_states(keys) == {
        "call:CAL1": {"id": "7"},
        "call:CAL2": {"id": "8", "contact": "101"},
        "call:CAL3": {"id": "9"},
        "call:CAL4": None,
    }
    client.close()
