"""The shared rate limiter counts a request from its grant until one window after its answer."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from connectors.base import RetryableError
from hub.coordination import Grant, MemoryStateStore, RateLimiter, SharedContext

WINDOW_S = 0.3


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def limiter(client: redis.Redis, limit: int) -> RateLimiter:
    return RateLimiter(client, f"hub:rate:test:{uuid.uuid4().hex}", limit, WINDOW_S)


def test_a_slot_stays_taken_while_its_request_is_in_flight(client: redis.Redis) -> None:
    """A request granted early but sent late (a busy machine) must not let a new window start
    under it: the receiver would see both windows' requests in one of its own."""
    bucket = limiter(client, 2)
    first, second = bucket.try_acquire(), bucket.try_acquire()
    assert isinstance(first, Grant)
    assert isinstance(second, Grant)
    time.sleep(WINDOW_S * 1.5)  # past the window counted from the grants
    assert not isinstance(bucket.try_acquire(), Grant), "no slot frees before its request is answered"
    first.settle()
    # Answered just now: the receiver may have counted it at any moment up to now, so its slot
    # frees one whole window later.
    assert bucket.wait_s() > 0
    time.sleep(WINDOW_S * 1.5)
    assert isinstance(bucket.try_acquire(), Grant), "one window after the answer the slot is free"
    assert not isinstance(bucket.try_acquire(), Grant), "the unanswered request still holds its slot"


def test_a_worker_thread_asking_again_has_its_previous_request_answered(client: redis.Redis) -> None:
    context = SharedContext(
        client, f"test-{uuid.uuid4().hex}", MemoryStateStore(), {"default": (1, WINDOW_S)}
    )
    context.throttle()
    context.throttle()  # the first request is answered: this one waits a window, then goes
    assert context.settle() == 1

    taken = threading.Event()
    release = threading.Event()

    def send_and_hang() -> None:
        context.throttle()
        taken.set()
        release.wait(30)

    other = threading.Thread(target=send_and_hang)
    other.start()
    try:
        assert taken.wait(30)
        with pytest.raises(RetryableError) as refused:
            context.throttle()  # another thread's request is still in flight
        assert refused.value.reason == "throttled"
    finally:
        release.set()
        other.join()
    assert context.settle() == 1


def test_a_slot_in_flight_is_waited_for_one_window_not_its_placeholder(client: redis.Redis) -> None:
    """Requests in flight hold their slots until answered; the wait asked of the next one is what
    it will be once they are answered (one window), not the minute a lost request is held for:
    work rescheduled by that wait would sit idle long after a 200 ms answer."""
    bucket = limiter(client, 1)
    assert isinstance(bucket.try_acquire(), Grant)
    wait = bucket.try_acquire()
    assert isinstance(wait, float)
    assert 0 < wait <= WINDOW_S
    assert bucket.wait_s() <= WINDOW_S


def test_a_short_bucket_held_in_flight_is_waited_for_in_the_worker(client: redis.Redis) -> None:
    """A bucket of one second (HubSpot's search) whose slots are held by requests in flight frees
    about a window after their answer: the worker waits for it rather than rescheduling the batch."""
    bucket = RateLimiter(client, f"hub:rate:test:{uuid.uuid4().hex}", 1, 1.0)
    first = bucket.try_acquire()
    assert isinstance(first, Grant)
    answered = threading.Timer(0.05, first.settle)
    answered.start()
    try:
        assert isinstance(bucket.acquire(), Grant)
    finally:
        answered.join()
