"""Transient storage errors while parsing are retried, never recorded as failures; call rows are
locked in one order so concurrent ingests cannot deadlock."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from hub import ingest as ingest_module
from hub.core.events import CallEvent
from hub.ingest import IngestSummary, ingest, request_of
from hub.store.db import Database
from hub.store.models import Call, Receipt
from hub.version_store import lock_calls
from tests.hubkit import Hub, fresh_postgres_database, make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MODIFIED = "callrail/call_modified_tags_value_lead_status.json"


def _with_call_id(call: str) -> Callable[[bytes], bytes]:
    return lambda body: re.sub(rb'"resource_id":"[^"]+"', f'"resource_id":"{call}"'.encode(), body)


def _post(hub: Hub, fixture: str, call: str) -> int:
    response = hub.post_fixture("callrail", fixture, edit=_with_call_id(call))
    assert response.status_code == 202, response.json
    return int(response.json["receipt_id"])


@contextmanager
def _postgres_hub(tmp_path: Path, redis_url: str) -> Iterator[Hub]:
    with fresh_postgres_database() as url, make_hub(tmp_path, redis_url, url) as hub:
        yield hub


def _calls_locked(statement: str) -> bool:
    return "FROM calls" in statement and "FOR UPDATE" in statement


def _calls_created(statement: str) -> bool:
    """The statement that creates a chunk's missing calls (before they are all locked)."""
    return statement.lstrip().startswith("INSERT INTO calls")


@pytest.mark.postgres
def test_two_workers_ingesting_interleaved_versions_of_two_calls_do_not_deadlock(
    tmp_path: Path, redis_url: str
) -> None:
    """Worker one gets (A, B), worker two (B, A), and both lock their calls at the same moment:
    locked in receipt order, each would hold its first call while asking for the other's."""
    with _postgres_hub(tmp_path, redis_url) as hub:
        first = [_post(hub, ANSWERED, "CALAAA"), _post(hub, ANSWERED, "CALBBB")]
        second = [_post(hub, MODIFIED, "CALBBB"), _post(hub, MODIFIED, "CALAAA")]
        engine = hub.runtime.db.engine
        # Both workers create (then lock) their calls together, or one is already queued behind
        # the other, which is the point of ordering them.
        meeting = threading.Barrier(2)
        locked: list[list[str]] = []

        def meet_before_locking(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if not _calls_created(statement):
                return
            rows = parameters if isinstance(parameters, list) else [parameters]
            locked.append(
                [
                    value
                    for row in rows
                    for value in (row.values() if isinstance(row, dict) else row)
                    if str(value).startswith("call_")
                ]
            )
            # A broken barrier: the other worker waits on a lock we hold (ordered locking).
            with contextlib.suppress(threading.BrokenBarrierError):
                meeting.wait(timeout=2)

        with engine.connect() as connection:
            deadlocks_before = _deadlocks(connection)
        event.listen(engine, "before_cursor_execute", meet_before_locking)
        summaries: list[IngestSummary] = []
        try:
            threads = [
                threading.Thread(target=lambda ids=ids: summaries.append(ingest(hub.runtime, ids)))
                for ids in (first, second)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            event.remove(engine, "before_cursor_execute", meet_before_locking)
        with engine.connect() as connection:
            assert _deadlocks(connection) == deadlocks_before, "PostgreSQL detected a deadlock"
        assert sum(s.parsed for s in summaries) == 4
        assert not any(s.failed or s.retried for s in summaries)
        assert len(locked) == 2
        assert all(len(ids) == 2 and ids == sorted(ids) for ids in locked), (
            "calls created and locked in call-id order"
        )
        calls = hub.api("/events").json["items"]
        assert sorted(c["versions"] for c in calls) == [2, 2]
        assert {r["status"] for r in hub.api("/receipts").json["items"]} == {"parsed"}


@pytest.mark.postgres
def test_two_workers_creating_the_same_new_calls_at_once_wait_for_each_other(
    tmp_path: Path, redis_url: str
) -> None:
    """A call has two unique keys (its id and its provider's call id). Created together, the
    second worker must wait for the first and find the calls made, never fail on the other key
    with a duplicate or a deadlock; many rounds, as the window is a few microseconds wide."""
    with _postgres_hub(tmp_path, redis_url) as hub:
        receipt = _post(hub, ANSWERED, "CALTEMPLATE")
        with hub.runtime.db.read_session() as session:
            stored = session.get_one(Receipt, receipt)
            request, key = request_of(stored), stored.receipt_key
        source = hub.runtime.config.sources["callrail"]
        [template] = hub.runtime.provider(source).normalize(request, key)
        failures: list[str] = []
        for round_number in range(60):
            events = [
                dataclasses.replace(template, provider_call_id=f"CALRACE{round_number}{suffix}")
                for suffix in "AB"
            ]
            start = threading.Barrier(2)

            def create(events: list[CallEvent] = events, start: threading.Barrier = start) -> None:
                try:
                    with hub.runtime.db.session() as session:
                        session.connection()
                        start.wait(timeout=5)
                        lock_calls(session, events)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

            workers = [threading.Thread(target=create) for _ in range(2)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        assert failures == []
        with hub.runtime.db.read_session() as session:
            made = session.scalar(
                select(func.count()).select_from(Call).where(Call.provider_call_id.like("CALRACE%"))
            )
        assert made == 120


def _deadlocks(connection: Any) -> int:
    return int(
        connection.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    )


@pytest.mark.postgres
def test_a_dropped_connection_while_parsing_is_retried_not_failed(tmp_path: Path, redis_url: str) -> None:
    with _postgres_hub(tmp_path, redis_url) as hub:
        receipt = _post(hub, ANSWERED, "CALDROP")
        engine = hub.runtime.db.engine
        admin = Database(hub.runtime.db.url)
        dropped: list[int] = []

        def drop_connection(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if _calls_locked(statement) and not dropped:
                pid = conn.connection.dbapi_connection.info.backend_pid
                dropped.append(pid)
                with admin.engine.connect() as other:
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    other.commit()

        event.listen(engine, "before_cursor_execute", drop_connection)
        try:
            summary = ingest(hub.runtime, [receipt])
        finally:
            event.remove(engine, "before_cursor_execute", drop_connection)
            admin.dispose()
        assert dropped, "the connection was terminated mid-ingest"
        assert summary.parsed == 1
        assert summary.failed == 0
        stored = hub.api(f"/receipts/{receipt}").json
        assert stored["status"] == "parsed"


def test_sqlite_busy_past_its_deadline_hands_receipts_back(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Database, "WRITE_LOCK_TIMEOUT_S", 0.2)
    monkeypatch.setattr(ingest_module, "TRANSIENT_PAUSE_S", 0.01)
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        receipt = _post(hub, ANSWERED, "CALBUSY")
        # Another process's writer holds the database for longer than any deadline.
        other = Database(hub.runtime.db.url)
        with other.write_lock():
            summary = ingest(hub.runtime, [receipt])
        other.dispose()
        assert summary.retried == [receipt]
        assert summary.failed == 0
        stored = hub.api(f"/receipts/{receipt}").json
        assert stored["status"] == "received", "a busy database is not the receipt's fault"
        assert stored["error_reason"] is None
        hub.drain()
        assert hub.api(f"/receipts/{receipt}").json["status"] == "parsed"
        assert len(hub.received()) == 1


def test_a_value_the_database_refuses_still_fails_visibly(hub: Hub) -> None:
    """Not every storage error is transient: a call id too long for its column is the receipt's
    own problem (PostgreSQL refuses it), kept as store_error; its neighbours go through."""
    good = _post(hub, ANSWERED, "CALGOOD")
    long = _post(hub, MODIFIED, "CAL" + "x" * 297)
    summary = ingest(hub.runtime, [good, long])
    assert summary.parsed + summary.failed == 2
    assert not summary.retried
    statuses = {r["id"]: r for r in hub.api("/receipts").json["items"]}
    assert statuses[good]["status"] == "parsed"
    if statuses[long]["status"] == "failed":
        assert statuses[long]["error_reason"] == "store_error"
