"""The webhook's one durable write on PostgreSQL: one round trip, committed before the answer,
and a connection the server dropped is replaced instead of costing a delivery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import pq
from sqlalchemy import create_engine, text

from hub.redis_server import free_port
from hub.store.db import Database
from tests.hubkit import PROVIDER_FIXTURES, Hub, fresh_postgres_database, make_hub

pytestmark = pytest.mark.postgres

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"


@pytest.fixture
def pg_hub(tmp_path: Path, redis_url: str) -> Iterator[Hub]:
    with fresh_postgres_database() as url, make_hub(tmp_path, redis_url, url) as hub:
        yield hub


def _protocol_messages(hub: Hub, trace_file: Path, post: str) -> list[list[str]]:
    """The wire messages of one webhook's write, from libpq's trace of the writer's connection."""
    pgconn = hub.runtime.receipt_writer._connection().dbapi_connection.pgconn
    with trace_file.open("w") as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            response = hub.post_fixture("callrail", post)
        finally:
            pgconn.untrace()
    assert response.status_code == 202, response.json
    # Each line: direction (F: to the server, B: from it), length, message type, details.
    return [line.split("\t") for line in trace_file.read_text().splitlines() if line]


def test_a_delivery_is_one_round_trip_and_committed_when_answered(pg_hub: Hub, tmp_path: Path) -> None:
    assert pg_hub.post_fixture("callrail", ANSWERED).status_code == 202  # opens the kept connection
    messages = _protocol_messages(pg_hub, tmp_path / "trace.txt", MISSED)
    sent = [fields[2] for fields in messages if fields[0] == "F"]
    # The prepared INSERT bound and run, one Sync: no BEGIN or COMMIT of its own, no re-parse.
    assert sent == ["Bind", "Describe", "Execute", "Sync"], messages
    ready = [fields for fields in messages if fields[0] == "B" and fields[2] == "ReadyForQuery"]
    # The server's one answer ends outside any transaction: the row is committed.
    assert [fields[-1].strip() for fields in ready] == ["I"], messages
    other = create_engine(pg_hub.settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with other.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM receipts")).scalar_one()
    other.dispose()
    assert stored == 2


def test_a_connection_the_server_dropped_is_replaced_and_the_delivery_stored(pg_hub: Hub) -> None:
    assert pg_hub.post_fixture("callrail", ANSWERED).status_code == 202
    admin = create_engine(pg_hub.settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect() as connection:
        # What a server restart or an idle-connection reaper does to every connection of the hub.
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    assert dropped >= 1
    response = pg_hub.post_fixture("callrail", MISSED)
    assert response.status_code == 202, response.json
    assert len(pg_hub.api("/receipts").json["items"]) == 2


def test_a_server_that_cannot_be_reached_answers_503_so_the_provider_retries(pg_hub: Hub) -> None:
    healthy = pg_hub.runtime.db
    pg_hub.runtime.db = Database(f"postgresql://hub@127.0.0.1:{free_port()}/callhub")
    pg_hub.runtime.__dict__.pop("receipt_writer", None)
    try:
        response = pg_hub.post_fixture("callrail", ANSWERED)
    finally:
        pg_hub.runtime.receipt_writer.close()
        pg_hub.runtime.db.dispose()
        pg_hub.runtime.db = healthy
        pg_hub.runtime.__dict__.pop("receipt_writer", None)
    assert response.status_code == 503
    assert response.json["error"] == "storage_unavailable"
    # The provider's retry, once the server is back, is stored.
    assert pg_hub.post_fixture("callrail", ANSWERED).status_code == 202
    assert len(pg_hub.api("/receipts").json["items"]) == 1


def test_delivery_bodies_are_compressed_with_lz4_where_the_server_has_it(pg_hub: Hub) -> None:
    engine = create_engine(pg_hub.settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        offered = connection.execute(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
    if not offered or "lz4" not in offered:
        engine.dispose()
        pytest.skip("this PostgreSQL server has no lz4 (before 14, or built without it)")
    sent = (PROVIDER_FIXTURES / MISSED).read_bytes()
    assert len(sent) > 2048, "a body this large is compressed when stored"
    assert pg_hub.post_fixture("callrail", MISSED).status_code == 202
    with engine.connect() as connection:
        compression, body = connection.execute(
            text("SELECT pg_column_compression(body), body FROM receipts")
        ).one()
    engine.dispose()
    assert compression == "lz4"
    assert bytes(body) == sent
