"""A chunk's versions are written together: what one receipt's versions did before the next one's
(merging, folding, idempotency, a failure kept to its own receipt) must still hold within a chunk."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from hub.ingest import ingest, request_of
from hub.merge import call_id
from hub.replay import replay_receipts
from hub.store.models import Call, Delivery, Event, Receipt
from hub.version_store import Version, lock_calls, store_versions
from tests.hubkit import Hub, default_config, make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MODIFIED = "callrail/call_modified_tags_value_lead_status.json"
MISSED = "callrail/post_call_missed.json"


def _as_call(call: str) -> Callable[[bytes], bytes]:
    return lambda body: re.sub(rb'"resource_id":"[^"]+"', f'"resource_id":"{call}"'.encode(), body)


def _post(hub: Hub, fixture: str, call: str) -> int:
    response = hub.post_fixture("callrail", fixture, edit=_as_call(call))
    assert response.status_code == 202, response.json
    return int(response.json["receipt_id"])


def _call(hub: Hub, call: str) -> Call:
    with hub.runtime.db.read_session() as session:
        found = session.get_one(Call, call_id("callrail", call))
        session.expunge_all()  # kept readable once the read's snapshot is rolled back
        return found


def _deliveries(hub: Hub, call: str) -> list[Delivery]:
    """The call's deliveries, oldest version first."""
    with hub.runtime.db.read_session() as session:
        found = list(
            session.scalars(
                select(Delivery)
                .join(Event, Event.id == Delivery.event_id)
                .where(Delivery.call_id == call_id("callrail", call))
                .order_by(Event.receipt_id)
            )
        )
        session.expunge_all()
        return found


def _receipt(hub: Hub, receipt_id: int) -> Receipt:
    with hub.runtime.db.read_session() as session:
        found = session.get_one(Receipt, receipt_id)
        session.expunge_all()
        return found


@pytest.fixture
def settled(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Hub]:
    """A hub whose completed calls wait 120 s before they are sent (time to fold updates in)."""
    config = default_config()
    config["sources"][0]["settle_s"] = 120
    with make_hub(tmp_path, redis_url, database_url, config) as hub:
        yield hub


def test_two_versions_of_one_call_in_one_chunk_merge_and_fold_once(settled: Hub) -> None:
    hub = settled
    before = datetime.now(UTC)
    ids = [_post(hub, ANSWERED, "CALTWO"), _post(hub, MODIFIED, "CALTWO")]

    summary = ingest(hub.runtime, ids)

    assert (summary.parsed, summary.events, summary.failed) == (2, 2, 0)
    call = _call(hub, "CALTWO")
    assert call.version_count == 2
    assert call.kind == "call.updated"
    assert call.state["outcome"]["tags"], "the update is merged in"
    assert call.state["attribution"]["gclid"], "the completed version's fields are kept"
    first, second = _deliveries(hub, "CALTWO")
    assert (first.status, first.reason, first.superseded_by) == ("skipped", "superseded", second.id)
    assert first.message == f"folded into {second.id}"
    assert first.finished_at is not None
    assert second.status == "pending"
    # The update waits for the completed version's settle window it was folded with.
    assert second.due_at >= before + timedelta(seconds=120)
    hub.drain(now=hub.later(130))
    [sent] = hub.received()
    assert sent["json"]["call"]["outcome"]["tags"]


def test_a_chunk_mixing_new_and_existing_calls(hub: Hub) -> None:
    existing = _post(hub, ANSWERED, "CALOLD")
    assert ingest(hub.runtime, [existing]).parsed == 1
    [earlier] = _deliveries(hub, "CALOLD")
    old_call = _call(hub, "CALOLD")

    ids = [_post(hub, MODIFIED, "CALOLD"), _post(hub, MISSED, "CALNEW")]
    summary = ingest(hub.runtime, ids)

    assert (summary.parsed, summary.events) == (2, 2)
    updated = _call(hub, "CALOLD")
    assert updated.version_count == 2
    assert updated.state["outcome"]["tags"]
    assert updated.first_event_at == old_call.first_event_at
    assert updated.last_event_at >= old_call.last_event_at
    folded, latest = _deliveries(hub, "CALOLD")
    assert folded.id == earlier.id
    assert (folded.status, folded.superseded_by) == ("skipped", latest.id)
    assert latest.status == "pending"
    assert _call(hub, "CALNEW").version_count == 1
    [new] = _deliveries(hub, "CALNEW")
    assert new.status == "pending"
    assert {_receipt(hub, i).events_count for i in ids} == {1}
    hub.drain()
    assert sorted(s["event"] for s in hub.received()) == ["call.completed", "call.updated"]


def _refuse_updates(hub: Hub) -> None:
    """A trigger in the database refuses every `call.updated` version: a real store error."""
    with hub.runtime.db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_update BEFORE INSERT ON events WHEN NEW.kind = 'call.updated' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.kind = 'call.updated' THEN RAISE EXCEPTION 'refused by test'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_update BEFORE INSERT ON events "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_update()"
                )
            )


def test_a_refused_version_fails_its_receipt_alone_and_leaves_its_call_as_before(hub: Hub) -> None:
    first = _post(hub, ANSWERED, "CALSHARED")
    refused = _post(hub, MODIFIED, "CALSHARED")
    other = _post(hub, MISSED, "CALOTHER")
    _refuse_updates(hub)

    summary = ingest(hub.runtime, [first, refused, other])

    assert (summary.parsed, summary.failed) == (2, 1)
    failed = _receipt(hub, refused)
    assert (failed.status, failed.error_reason) == ("failed", "store_error")
    assert "refused by test" in (failed.error or "")
    assert {_receipt(hub, i).parse_attempts for i in (first, refused, other)} == {1}
    call = _call(hub, "CALSHARED")
    assert (call.version_count, call.kind) == (1, "call.completed")
    [kept] = _deliveries(hub, "CALSHARED")
    assert kept.status == "pending", "nothing was folded into the refused version"
    assert _call(hub, "CALOTHER").version_count == 1

    # Kept with its cause and replayable once the store accepts it.
    with hub.runtime.db.engine.begin() as connection:
        connection.execute(
            text("DROP TRIGGER refuse_update" + ("" if "sqlite" in hub.runtime.db.url else " ON events"))
        )
    assert replay_receipts(hub.runtime.db, (refused,)) == [refused]
    hub.drain()
    assert _receipt(hub, refused).status == "parsed"
    assert _call(hub, "CALSHARED").version_count == 2


def test_a_version_stored_already_adds_nothing_to_its_chunk(hub: Hub) -> None:
    stored = _post(hub, ANSWERED, "CALSTORED")
    assert ingest(hub.runtime, [stored]).events == 1
    # Handed out again after its versions were stored: the chunk must not store them twice.
    with hub.runtime.db.session() as session:
        session.execute(update(Receipt).where(Receipt.id == stored).values(status="received"))
    fresh = _post(hub, MISSED, "CALFRESH")

    summary = ingest(hub.runtime, [stored, fresh])

    assert summary.parsed == 2
    assert _call(hub, "CALSTORED").version_count == 1
    assert len(_deliveries(hub, "CALSTORED")) == 1
    assert _receipt(hub, stored).status == "parsed"
    assert _call(hub, "CALFRESH").version_count == 1
    hub.drain()
    assert len(hub.received()) == 2


def test_a_version_given_twice_in_one_batch_is_stored_once(hub: Hub) -> None:
    receipt = _post(hub, ANSWERED, "CALTWICE")
    request = _receipt(hub, receipt)
    source = hub.runtime.config.sources["callrail"]
    [event] = hub.runtime.provider(source).normalize(request_of(request), request.receipt_key)
    versions = [Version(event, receipt, source), Version(event, receipt, source)]
    with hub.runtime.db.session() as session:
        lock_calls(session, [event])
        assert store_versions(hub.runtime, session, versions) == 1
    with hub.runtime.db.session() as session:
        assert store_versions(hub.runtime, session, versions) == 0
    assert _call(hub, "CALTWICE").version_count == 1
    assert len(_deliveries(hub, "CALTWICE")) == 1


def test_a_pending_version_is_folded_through_a_chunks_versions_into_the_newest(settled: Hub) -> None:
    hub = settled
    ingest(hub.runtime, [_post(hub, ANSWERED, "CALCHAIN")])
    [waiting] = _deliveries(hub, "CALCHAIN")
    assert waiting.status == "pending"

    later_value = hub.post_fixture(
        "callrail",
        MODIFIED,
        edit=lambda body: _as_call("CALCHAIN")(body).replace(b'"value":"1250.0"', b'"value":"1300.0"'),
    )
    ids = [_post(hub, MODIFIED, "CALCHAIN"), int(later_value.json["receipt_id"])]
    summary = ingest(hub.runtime, ids)

    assert summary.parsed == 2
    oldest, middle, newest = _deliveries(hub, "CALCHAIN")
    assert oldest.id == waiting.id
    assert (oldest.status, oldest.superseded_by) == ("skipped", middle.id)
    assert (middle.status, middle.superseded_by) == ("skipped", newest.id)
    assert newest.status == "pending"
    assert newest.due_at >= waiting.due_at, "the newest waits out the settle window it took over"
    assert _call(hub, "CALCHAIN").version_count == 3
    hub.drain(now=hub.later(130))
    assert len(hub.received()) == 1


def test_a_version_the_dispatcher_claimed_is_not_folded(hub: Hub) -> None:
    ingest(hub.runtime, [_post(hub, ANSWERED, "CALCLAIMED")])
    [claimed] = _deliveries(hub, "CALCLAIMED")
    with hub.runtime.db.session() as session:
        session.execute(update(Delivery).where(Delivery.id == claimed.id).values(status="queued"))

    ingest(hub.runtime, [_post(hub, MODIFIED, "CALCLAIMED")])

    before, after = _deliveries(hub, "CALCLAIMED")
    assert (before.status, before.superseded_by) == ("queued", None)
    assert after.status == "pending"
