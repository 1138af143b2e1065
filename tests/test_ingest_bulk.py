"""Ingest writes a chunk of receipts in one transaction, parsed beforehand, without a savepoint per
receipt; when the chunk fails, each receipt is written alone and only the one that fails is failed."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, text

from hub.ingest import ingest
from hub.merge import call_id
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"
VOICEMAIL = "callrail/post_call_voicemail.json"


def _receipt_ids(hub: Hub) -> list[int]:
    return sorted(r["id"] for r in hub.api("/receipts").json["items"])


def test_a_chunk_is_one_transaction_without_savepoints(hub: Hub) -> None:
    for fixture in (ANSWERED, MISSED, VOICEMAIL):
        assert hub.post_fixture("callrail", fixture).status_code == 202
    statements: list[str] = []
    commits: list[int] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.lstrip().upper())

    def committed(_conn: Any) -> None:
        commits.append(1)

    engine = hub.runtime.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "commit", committed)
    try:
        summary = ingest(hub.runtime, _receipt_ids(hub))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "commit", committed)

    assert (summary.parsed, summary.failed, summary.events) == (3, 0, 3)
    assert not [s for s in statements if s.startswith("SAVEPOINT")]
    assert len(commits) == 1
    hub.drain()
    assert len(hub.received()) == 3


def _refuse_events_of(hub: Hub, refused_call: str) -> None:
    """A trigger in the database refuses the versions of one call: a real store error."""
    with hub.runtime.db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_call BEFORE INSERT ON events "
                    f"WHEN NEW.call_id = '{refused_call}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_call() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.call_id = '{refused_call}' THEN RAISE EXCEPTION 'refused by test'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_call BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_call()"
                )
            )


def test_a_receipt_the_store_refuses_fails_alone_in_its_chunk(hub: Hub) -> None:
    refused = "CALrefused0000000000000000000000001"
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture(
        "callrail",
        MISSED,
        edit=lambda body: re.sub(rb'"resource_id":"[^"]+"', f'"resource_id":"{refused}"'.encode(), body),
    )
    hub.post_fixture("callrail", VOICEMAIL)
    _refuse_events_of(hub, call_id("callrail", refused))

    summary = ingest(hub.runtime, _receipt_ids(hub))

    assert (summary.parsed, summary.failed) == (2, 1)
    receipts = {r["id"]: r for r in hub.api("/receipts").json["items"]}
    [failed] = [r for r in receipts.values() if r["status"] == "failed"]
    assert failed["error_reason"] == "store_error"
    assert "refused by test" in failed["error"]
    assert sorted(r["status"] for r in receipts.values()) == ["failed", "parsed", "parsed"]
    # Every receipt was tried once: the chunk's rolled-back try is not counted.
    assert {r["parse_attempts"] for r in receipts.values()} == {1}
    hub.drain()
    assert len(hub.received()) == 2


def test_a_parser_crash_fails_its_receipt_and_the_chunk_goes_through(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", MISSED, edit=lambda body: b"[1, 2, 3]")
    hub.post_fixture("callrail", VOICEMAIL)

    summary = ingest(hub.runtime, _receipt_ids(hub))

    assert (summary.parsed, summary.failed) == (2, 1)
    statuses = sorted(r["status"] for r in hub.api("/receipts").json["items"])
    assert statuses == ["failed", "parsed", "parsed"]
