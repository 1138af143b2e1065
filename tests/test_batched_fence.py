"""A batch's writes are fenced per delivery: when another job took some of its deliveries
between reading and writing, only the ones this claim still holds move or get recorded."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from connectors.base import BatchResult, Delivered, Exchange, ItemOutcome, PermanentError, RetryableError
from hub.deliver import _prepare, _record, _start_sending
from hub.dispatch import dispatch_once, release_expired
from hub.store.models import Attempt, Batch, Delivery, DestinationPause
from tests.hubkit import Hub

CALLS = (
    "callrail/post_call_answered_web_session.json",
    "callrail/post_call_missed.json",
    "callrail/post_call_voicemail.json",
)


def rows(hub: Hub) -> dict[str, Delivery]:
    with hub.runtime.db.read_session() as session:
        found = session.scalars(select(Delivery)).all()
        session.expunge_all()
        return {row.id: row for row in found}


def attempts_of(hub: Hub) -> dict[str, list[Attempt]]:
    with hub.runtime.db.read_session() as session:
        found = session.scalars(select(Attempt).order_by(Attempt.delivery_id, Attempt.number)).all()
        session.expunge_all()
    by_delivery: dict[str, list[Attempt]] = {}
    for attempt in found:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return by_delivery


def claimed_batch(hub: Hub) -> tuple[list[str], str]:
    """Three calls ingested and claimed by one job; returns (delivery ids in id order, token)."""
    for fixture in CALLS:
        assert hub.post_fixture("callrail", fixture).status_code == 202
    dispatch_once(hub.runtime)
    hub.run_jobs()  # ingest
    dispatch_once(hub.runtime)  # one batch of three for the webhook destination
    queued = [row for row in rows(hub).values() if row.status == "queued"]
    assert len(queued) == 3
    [token] = {row.claim_token for row in queued}
    assert token
    return sorted(row.id for row in queued), token


def take_over(hub: Hub, delivery_id: str) -> str:
    """Another job takes `delivery_id`: its lease lapses (its worker looked dead), the dispatcher
    re-drives it under a new claim; returns the new token."""
    with hub.runtime.db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    # The original job is not waiting in its queue any more: a worker took it.
    hub.runtime.redis.flushall()
    assert release_expired(hub.runtime, datetime.now(UTC)) == 1
    assert dispatch_once(hub.runtime).deliveries == 1
    token = rows(hub)[delivery_id].claim_token
    assert token
    return token


def test_only_the_deliveries_still_held_start_sending(hub: Hub) -> None:
    ids, first = claimed_batch(hub)
    destination = hub.runtime.config.destinations["webhook"]
    items, early, snapshot = _prepare(hub.runtime, destination, ids, first)
    assert not early
    assert len(items) == 3
    queued_elsewhere, sending_elsewhere, held = ids
    second = take_over(hub, queued_elsewhere)
    third = take_over(hub, sending_elsewhere)
    later_items, _, later_snapshot = _prepare(hub.runtime, destination, [sending_elsewhere], third)
    assert _start_sending(hub.runtime, third, later_items, later_snapshot) == {sending_elsewhere}
    before = rows(hub)

    assert _start_sending(hub.runtime, first, items, snapshot) == {held}

    after = rows(hub)
    assert (after[held].status, after[held].claim_token) == ("sending", first)
    assert after[held].records == snapshot[held].records
    assert after[held].mapping_version == snapshot[held].mapping_version
    assert after[held].lease_until is not None
    for taken, token, status in ((queued_elsewhere, second, "queued"), (sending_elsewhere, third, "sending")):
        assert (after[taken].status, after[taken].claim_token) == (status, token)
        assert after[taken].lease_until == before[taken].lease_until, "untouched"
        assert after[taken].records == before[taken].records
    # The same batch again: nothing is still `queued` under its claim.
    assert _start_sending(hub.runtime, first, items, snapshot) == set()


def test_only_the_outcomes_still_held_are_recorded(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    ids, first = claimed_batch(hub)
    destination = hub.runtime.config.destinations["webhook"]
    items, _, snapshot = _prepare(hub.runtime, destination, ids, first)
    assert _start_sending(hub.runtime, first, items, snapshot) == set(ids)
    taken, *held = ids
    take_over(hub, taken)  # the lapsed send counts as a lost try ...
    hub.run_jobs()  # ... and the new claim sends and records it
    before = rows(hub)[taken]
    assert (before.status, before.attempts) == ("delivered", 2)
    shared = Exchange("POST", "https://example.invalid/batch", 200)
    result = BatchResult(
        outcomes={delivery_id: Delivered({"Lead": f"L-{delivery_id}"}) for delivery_id in ids},
        exchanges=[shared],
    )

    with caplog.at_level(logging.WARNING, logger="hub.deliver"):
        statuses = _record(hub.runtime, destination, first, result, hub.later(0), snapshot, set(ids))

    assert statuses == dict.fromkeys(held, "delivered")
    after = rows(hub)
    for delivery_id in held:
        row = after[delivery_id]
        assert (row.status, row.attempts, row.claim_token) == ("delivered", 1, None)
        assert row.external_ids == {"Lead": f"L-{delivery_id}"}
    untouched = after[taken]
    assert (untouched.status, untouched.attempts, untouched.external_ids) == (
        before.status,
        before.attempts,
        before.external_ids,
    )
    assert untouched.updated_at == before.updated_at
    history = attempts_of(hub)
    assert [a.outcome for a in history[taken]] == ["retry", "delivered"], "nothing of the late job"
    with hub.runtime.db.read_session() as session:
        [batch] = session.scalars(select(Batch)).all()
        session.expunge_all()
    for delivery_id in held:
        [attempt] = history[delivery_id]
        assert (attempt.number, attempt.outcome, attempt.batch_id) == (1, "delivered", batch.id)
        assert attempt.mapping_version == snapshot[delivery_id].mapping_version
        assert attempt.exchanges == [], "the shared request is kept once, on the batch"
    assert batch.size == 2, "the batch counts the attempts recorded"
    assert [e["url"] for e in batch.exchanges] == [shared.url]
    skipped = [r for r in caplog.records if r.getMessage().startswith("outcome not recorded")]
    assert [getattr(r, "delivery_id", None) for r in skipped] == [taken]


def test_never_sent_outcomes_are_fenced_on_queued(hub: Hub) -> None:
    """An outcome known before sending (a render failure) is recorded on `queued` deliveries the
    claim still holds, with what was rendered; one taken meanwhile is left alone."""
    ids, first = claimed_batch(hub)
    destination = hub.runtime.config.destinations["webhook"]
    _, _, snapshot = _prepare(hub.runtime, destination, ids, first)
    taken, *held = ids
    second = take_over(hub, taken)
    result = BatchResult(outcomes={i: PermanentError("bad mapping", reason="mapping") for i in ids})

    assert _record(hub.runtime, destination, first, result, hub.later(0), snapshot, set()) == dict.fromkeys(
        held, "rejected"
    )

    after = rows(hub)
    for delivery_id in held:
        row = after[delivery_id]
        assert (row.status, row.reason, row.attempts) == ("rejected", "mapping", 1)
        assert row.mapping_version == snapshot[delivery_id].mapping_version
    assert (after[taken].status, after[taken].claim_token, after[taken].attempts) == ("queued", second, 0)
    assert set(attempts_of(hub)) == set(held)


def test_local_retries_reschedule_only_what_is_held(hub: Hub) -> None:
    ids, first = claimed_batch(hub)
    destination = hub.runtime.config.destinations["webhook"]
    items, _, snapshot = _prepare(hub.runtime, destination, ids, first)
    assert _start_sending(hub.runtime, first, items, snapshot) == set(ids)
    taken, *held = ids
    second = take_over(hub, taken)
    result = BatchResult(
        outcomes={i: RetryableError("quota", reason="throttled", retry_after=30) for i in ids}
    )
    now = datetime.now(UTC)

    assert _record(hub.runtime, destination, first, result, now, snapshot, set(ids)) == dict.fromkeys(
        held, "pending"
    )

    after = rows(hub)
    for delivery_id in held:
        row = after[delivery_id]
        # Budget untouched, claim released, due when the quota allows.
        assert (row.status, row.reason, row.attempts, row.claim_token) == ("pending", "throttled", 0, None)
        assert row.due_at > now + timedelta(seconds=29)
    assert (after[taken].status, after[taken].claim_token) == ("queued", second)
    assert set(attempts_of(hub)) == {taken}, "no attempt for a local retry (only the lapsed send's)"


def test_refused_credentials_pause_only_when_a_held_delivery_says_so(hub: Hub) -> None:
    ids, first = claimed_batch(hub)
    destination = hub.runtime.config.destinations["webhook"]
    items, _, snapshot = _prepare(hub.runtime, destination, ids, first)
    assert _start_sending(hub.runtime, first, items, snapshot) == set(ids)
    refused: dict[str, ItemOutcome] = {i: PermanentError("401", reason="unauthorized") for i in ids}
    taken, *held = ids
    take_over(hub, taken)
    hub.run_jobs()

    # A late job (it holds none of them any more) records nothing, and pauses nothing.
    gone: dict[str, ItemOutcome] = {taken: refused[taken]}
    assert (
        _record(hub.runtime, destination, first, BatchResult(outcomes=gone), hub.later(0), snapshot, {taken})
        == {}
    )
    with hub.runtime.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(DestinationPause)) == 0

    statuses = _record(
        hub.runtime, destination, first, BatchResult(outcomes=refused), hub.later(0), snapshot, set(ids)
    )

    assert statuses == dict.fromkeys(held, "pending")
    after = rows(hub)
    for delivery_id in held:
        row = after[delivery_id]
        assert (row.status, row.reason, row.retry_base, row.attempts) == (
            "pending",
            "destination_paused",
            1,
            1,
        )
    assert after[taken].status == "delivered"
    with hub.runtime.db.read_session() as session:
        assert list(session.scalars(select(DestinationPause.destination))) == ["webhook"]
