"""Connector locks: a batch's keys taken at once exclude single locks and other batches on any
shared key, cannot deadlock, give up holding nothing, renew together, and never free a key that
another holder took after it expired."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from connectors.base import RetryableError
from hub.coordination import MemoryStateStore, SharedContext
from hub.redis_server import RedisServer, free_port

DESTINATION = "crm"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def context(client: redis.Redis, lock_ttl_s: float = 30.0) -> SharedContext:
    """One worker's view of the destination (each worker process has its own)."""
    return SharedContext(client, DESTINATION, MemoryStateStore(), lock_ttl_s=lock_ttl_s)


def redis_key(key: str) -> str:
    return f"hub:lock:{DESTINATION}:{key}"


def held(client: redis.Redis, *keys: str) -> list[bool]:
    return [bool(client.exists(redis_key(key))) for key in keys]


def refused(attempt: SharedContext, keys: list[str]) -> RetryableError:
    with pytest.raises(RetryableError) as busy, attempt.locks(keys, timeout_s=0.0):
        pytest.fail("took a key another worker holds")
    return busy.value


def test_a_batch_and_single_locks_on_a_shared_key_exclude_each_other(client: redis.Redis) -> None:
    first, second = context(client), context(client)
    with first.locks(["b", "a", "c", "a"]):
        assert held(client, "a", "b", "c") == [True, True, True]
        with pytest.raises(RetryableError) as busy, second.lock("b", timeout_s=0.0):
            pytest.fail("took a key of another worker's batch")
        assert (busy.value.reason, busy.value.retry_after) == ("lock_timeout", 5)
        with second.lock("d", timeout_s=0.0):  # keys outside the batch stay free
            pass
    with first.lock("b"):
        assert refused(second, ["a", "b", "c"]).reason == "lock_timeout"
        assert held(client, "a", "c") == [False, False], "the refused batch keeps none of its keys"
    with second.locks(["a", "b", "c"], timeout_s=0.0):
        pass


def test_a_batch_excludes_redis_py_locks_on_its_keys_and_the_other_way_round(client: redis.Redis) -> None:
    """Keys hold a token as redis-py's Lock stores it: a worker still taking locks that way (one
    of an earlier version, during an upgrade) and a batch exclude each other."""
    batch = context(client)
    with batch.locks(["a", "b"]):
        assert not client.lock(redis_key("b"), timeout=30).acquire(blocking=False)
    single = client.lock(redis_key("b"), timeout=30, thread_local=False)
    assert single.acquire(blocking=False)
    assert refused(batch, ["a", "b"]).reason == "lock_timeout"
    assert held(client, "a") == [False]
    single.release()


def test_batches_of_overlapping_keys_in_opposite_orders_both_finish(client: redis.Redis) -> None:
    first, second = context(client), context(client)
    keys = [f"caller-{i}" for i in range(20)]
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    errors: list[BaseException] = []

    def batches(worker: SharedContext, name: str, order: list[str]) -> None:
        try:
            for _ in range(30):
                with worker.locks(order, timeout_s=60.0):
                    inside.append(name)
                    if len(inside) > 1:
                        overlaps.append(tuple(inside))
                    inside.remove(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=batches, args=(first, "first", keys[:15])),
        threading.Thread(target=batches, args=(second, "second", list(reversed(keys[5:])))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "the batches deadlocked"
    assert errors == []
    assert overlaps == []


def test_a_batch_waits_for_a_key_held_elsewhere_keeping_the_keys_it_took(client: redis.Redis) -> None:
    holder, waiter = context(client), context(client)
    taken = threading.Event()
    errors: list[BaseException] = []

    def wait_for_batch() -> None:
        try:
            with waiter.locks(["e", "c", "a"], timeout_s=60.0):
                taken.set()
        except BaseException as exc:
            errors.append(exc)

    with holder.locks(["b", "c", "d"]):
        thread = threading.Thread(target=wait_for_batch)
        thread.start()
        # The waiter took "a", the key before the one it waits for, and keeps it meanwhile.
        while not client.exists(redis_key("a")):
            assert thread.is_alive(), errors
            time.sleep(0.01)
        assert not taken.is_set()
        assert held(client, "e") == [False], "nothing past the busy key is taken"
    thread.join(60)
    assert errors == []
    assert taken.is_set()
    assert held(client, "a", "b", "c", "d", "e") == [False] * 5


def test_keys_taken_while_waiting_for_the_rest_are_renewed(client: redis.Redis) -> None:
    """A wait longer than the locks' time to live must not lose the keys taken first."""
    holder, waiter = context(client), context(client)
    errors: list[BaseException] = []

    def wait_for_batch() -> None:
        try:
            with waiter.locks(["a", "c"], timeout_s=60.0):
                pass
        except BaseException as exc:
            errors.append(exc)

    with holder.lock("c"):
        thread = threading.Thread(target=wait_for_batch)
        thread.start()
        while not client.exists(redis_key("a")):
            assert thread.is_alive(), errors
            time.sleep(0.01)
        client.pexpire(redis_key("a"), 1000)  # most of its time to live has passed
        assert waiter.renew_locks() == 1
        assert client.pttl(redis_key("a")) > 1000
    thread.join(60)
    assert errors == []


def test_a_timed_out_batch_raises_lock_timeout_holding_none_of_its_keys(client: redis.Redis) -> None:
    holder, waiter = context(client), context(client)
    with holder.lock("m"):
        token = client.get(redis_key("m"))
        with pytest.raises(RetryableError) as busy, waiter.locks(["z", "m", "a"], timeout_s=0.3):
            pytest.fail("took a key another worker holds")
        assert (busy.value.reason, busy.value.retry_after) == ("lock_timeout", 5)
        assert held(client, "a", "z") == [False, False]
        assert client.get(redis_key("m")) == token, "the holder's key is untouched"
    assert waiter.renew_locks() == 0, "the refused batch is not renewed"


def test_the_heartbeat_renews_every_key_of_every_lock_held(client: redis.Redis) -> None:
    worker = context(client, lock_ttl_s=30.0)
    keys = ["a", "b", "c"]
    with worker.locks(keys), worker.lock("single"):
        for key in [*keys, "single"]:
            client.pexpire(redis_key(key), 1000)  # most of the time to live has passed
        assert worker.renew_locks() == 4
        assert all(client.pttl(redis_key(key)) > 1000 for key in [*keys, "single"])
        # A key lost meanwhile (expired under a stalled holder, then taken by another) is
        # neither counted nor extended, and raises nothing.
        client.delete(redis_key("b"))
        client.set(redis_key("b"), "another holder", px=1000)
        assert worker.renew_locks() == 3
        assert client.pttl(redis_key("b")) <= 1000
    assert worker.renew_locks() == 0
    assert client.get(redis_key("b")) == b"another holder"


def test_a_batch_released_after_expiry_leaves_the_new_holders_key(client: redis.Redis) -> None:
    stalled, other = context(client), context(client)
    with contextlib.ExitStack() as others:
        with stalled.locks(["a", "b"]):
            client.delete(redis_key("a"))  # its time to live ran out while the holder stalled
            others.enter_context(other.lock("a"))
            token = client.get(redis_key("a"))
        # The stalled batch ended without raising, freeing only the key it still held.
        assert client.get(redis_key("a")) == token
        assert held(client, "b") == [False]
    assert held(client, "a") == [False]


def test_a_single_lock_released_after_expiry_leaves_a_batchs_key(client: redis.Redis) -> None:
    stalled, batch = context(client), context(client)
    with contextlib.ExitStack() as batches:
        with stalled.lock("a"):
            client.delete(redis_key("a"))  # its time to live ran out while the holder stalled
            batches.enter_context(batch.locks(["a", "b"]))
            token = client.get(redis_key("a"))
        assert client.get(redis_key("a")) == token
    assert held(client, "a", "b") == [False, False]


@pytest.fixture
def quiet_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """A server of its own: its command counts are this test's commands only."""
    server = RedisServer(tmp_path / "redis", free_port()).start()
    connection = redis.Redis.from_url(server.url)
    yield connection
    connection.close()
    server.stop()


def commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


def commands_since(client: redis.Redis, before: dict[str, int]) -> dict[str, int]:
    """Commands run since `before`, leaving out the INFO asking."""
    after = commands(client)
    delta = {name: calls - before.get(name, 0) for name, calls in after.items() if name != "info"}
    return {name: calls for name, calls in delta.items() if calls}


def test_a_batch_of_100_callers_costs_one_command_to_take_one_to_renew_one_to_release(
    quiet_redis: redis.Redis,
) -> None:
    worker = context(quiet_redis)
    with worker.locks(["warm-up"]):  # the scripts are loaded once per server
        worker.renew_locks()
    keys = [f"caller-{uuid.uuid4().hex}" for _ in range(100)]

    before = commands(quiet_redis)
    with worker.locks(keys):
        # One script call; the 100 SETs are what it runs inside Redis, not round trips.
        assert commands_since(quiet_redis, before) == {"evalsha": 1, "set": 100}
        before = commands(quiet_redis)
        assert worker.renew_locks() == 100
        assert commands_since(quiet_redis, before) == {"evalsha": 1, "get": 100, "pexpire": 100}
        before = commands(quiet_redis)
    assert commands_since(quiet_redis, before) == {"evalsha": 1, "get": 100, "del": 100}
