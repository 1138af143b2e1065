"""The allocator trim of long-lived processes: its setting, and that it runs where glibc is."""

from __future__ import annotations

import threading

import pytest

from hub import memory_trim


def test_interval_defaults_and_zero_turns_it_off() -> None:
    assert memory_trim.interval_s(None) == memory_trim.DEFAULT_INTERVAL_S
    assert memory_trim.interval_s("") == memory_trim.DEFAULT_INTERVAL_S
    assert memory_trim.interval_s("5") == 5.0
    assert memory_trim.start({memory_trim.ENV: "0"}) is None


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_a_wrong_interval_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=memory_trim.ENV):
        memory_trim.interval_s(value)


def test_trim_runs_in_a_thread_until_stopped() -> None:
    if memory_trim.glibc_trim() is None:
        pytest.skip("the C library is not glibc: nothing to trim")
    stop = memory_trim.start({memory_trim.ENV: "0.01"})
    assert stop is not None
    trimmer = next(t for t in threading.enumerate() if t.name == "malloc-trim")
    stop.set()
    trimmer.join(timeout=5)
    assert not trimmer.is_alive()
