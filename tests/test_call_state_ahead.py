"""A chunk's calls are merged before its write transaction; under the lock that merge is taken
only while it still holds, and a call another writer changed meanwhile is merged again there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event

from hub.call_state import merge_ahead
from hub.core.events import CallEvent
from hub.ingest import ingest, request_of
from hub.version_store import Version, lock_calls, store_versions
from tests.hubkit import Hub
from tests.test_ingest_bulk_edges import ANSWERED, MODIFIED, _call, _post, _receipt


def _event(hub: Hub, receipt_id: int) -> tuple[CallEvent, Version]:
    receipt = _receipt(hub, receipt_id)
    source = hub.runtime.config.sources["callrail"]
    [parsed] = hub.runtime.provider(source).normalize(request_of(receipt), receipt.receipt_key)
    return parsed, Version(parsed, receipt_id, source)


@contextmanager
def _statements(*targets: Connection | Engine) -> Iterator[list[str]]:
    """The statements run on `targets` (connections or engines) inside the block, in order."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    for target in targets:
        event.listen(target, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", record)


def _reads_payloads(statements: list[str]) -> bool:
    return any(s.startswith("SELECT") and "events.payload" in s for s in statements)


def test_a_merge_that_still_holds_is_taken_without_reading_any_version(hub: Hub) -> None:
    _answered, first = _event(hub, _post(hub, ANSWERED, "CALAHEAD"))
    assert ingest(hub.runtime, [first.receipt_id]).events == 1
    modified, second = _event(hub, _post(hub, MODIFIED, "CALAHEAD"))
    with hub.runtime.db.read_session() as session:
        ahead = merge_ahead(session.connection(), [modified])

    with hub.runtime.db.session() as session:
        lock_calls(session, [modified])
        with _statements(session.connection()) as statements:
            assert store_versions(hub.runtime, session, [second], ahead) == 1

    assert not _reads_payloads(statements), "the versions were merged ahead: none is read again"
    call = _call(hub, "CALAHEAD")
    assert call.version_count == 2
    assert call.state["outcome"]["tags"]
    assert call.state["attribution"]["gclid"]


def test_a_version_stored_after_the_merge_ahead_is_merged_in_under_the_lock(hub: Hub) -> None:
    _answered, first = _event(hub, _post(hub, ANSWERED, "CALRACE"))
    modified, second = _event(hub, _post(hub, MODIFIED, "CALRACE"))
    with hub.runtime.db.read_session() as session:
        ahead = merge_ahead(session.connection(), [modified])
    # Another worker stores the call's other version between the merge ahead and the write.
    assert ingest(hub.runtime, [first.receipt_id]).events == 1

    with hub.runtime.db.session() as session:
        lock_calls(session, [modified])
        with _statements(session.connection()) as statements:
            assert store_versions(hub.runtime, session, [second], ahead) == 1

    assert _reads_payloads(statements), "the merge ahead no longer holds: merged again"
    call = _call(hub, "CALRACE")
    assert call.version_count == 2
    assert call.state["outcome"]["tags"], "the version written here is merged"
    assert call.state["attribution"]["gclid"], "the version stored meanwhile is kept"
    assert call.kind == "call.updated"


def test_a_merge_ahead_of_other_versions_than_the_ones_written_is_not_taken(hub: Hub) -> None:
    answered, first = _event(hub, _post(hub, ANSWERED, "CALPART"))
    modified, _second = _event(hub, _post(hub, MODIFIED, "CALPART"))
    with hub.runtime.db.read_session() as session:
        # Merged ahead for both receipts of a chunk; only one of them is written (the other failed).
        ahead = merge_ahead(session.connection(), [answered, modified])

    with hub.runtime.db.session() as session:
        lock_calls(session, [answered])
        assert store_versions(hub.runtime, session, [first], ahead) == 1

    call = _call(hub, "CALPART")
    assert call.version_count == 1
    assert not call.state["outcome"]["tags"], "the version not written is not in the call's state"


def test_a_chunk_s_calls_are_merged_ahead_of_its_write_transaction(hub: Hub) -> None:
    receipts = [_post(hub, ANSWERED, "CALCHUNK"), _post(hub, MODIFIED, "CALCHUNK")]
    receipts += [_post(hub, ANSWERED, f"CALNEW{n}") for n in range(3)]
    engines = {id(e): e for e in (hub.runtime.db.engine, hub.runtime.db.read_engine)}.values()
    with _statements(*engines) as seen:
        assert ingest(hub.runtime, receipts).events == 5

    writing = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO calls"))
    assert _reads_payloads(seen[:writing]), "merged ahead"
    assert not _reads_payloads(seen[writing:]), "nothing merged again under the write lock"
    assert _call(hub, "CALCHUNK").version_count == 2
