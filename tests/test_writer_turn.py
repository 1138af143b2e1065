"""A thread that yields to a writer waits while another thread of its process holds the write
lock, and only then (hub.core.writer_turn)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.core.writer_turn import writer_active, yield_to_writer
from hub.store.db import Database


@contextmanager
def _held_write_lock(tmp_path: Path) -> Iterator[threading.Event]:
    """Another thread holds a SQLite database's write lock until the event given is set."""
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    db.migrate()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.session():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        yield release
    finally:
        release.set()
        holder.join(10)
        db.dispose()


def test_a_yielding_thread_waits_until_the_write_transaction_ends(tmp_path: Path) -> None:
    assert not writer_active()
    returned = threading.Event()
    with _held_write_lock(tmp_path) as release:
        assert writer_active()

        def yielder() -> None:
            yield_to_writer(max_wait_s=30)
            returned.set()

        waiting = threading.Thread(target=yielder)
        waiting.start()
        # Still held: the yielder waits (its limit is far away).
        assert not returned.wait(0.3)
        release.set()
        assert returned.wait(10)
        waiting.join(10)
    assert not writer_active()


def test_a_yielding_thread_waits_no_longer_than_its_limit(tmp_path: Path) -> None:
    with _held_write_lock(tmp_path):
        yield_to_writer(max_wait_s=0.01)
        # The holder is not done, yet the yielder went on.
        assert writer_active()


def test_nothing_is_marked_where_the_database_has_no_process_lock(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: its writers hold no lock of this process")
    db = Database(database_url)
    db.migrate()
    try:
        with db.session():
            assert not writer_active()
    finally:
        db.dispose()


def test_a_forked_child_starts_with_no_holder(tmp_path: Path) -> None:
    """A child forked while a thread holds the lock has no such thread: it waits for nobody."""
    with _held_write_lock(tmp_path):
        assert writer_active()
        pid = os.fork()
        if pid == 0:
            os._exit(1 if writer_active() else 0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
