"""Engine, sessions and schema migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import ast
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, String, column, create_engine, event, inspect, select, table
from sqlalchemy.orm import Session, sessionmaker

from hub.core.errors import ConfigError, StorageUnavailable
from hub.core.writer_turn import writer_entered, writer_left

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: Where Alembic records the revision a database is at (its default version table).
VERSION_TABLE = "alembic_version"


def _synchronous() -> str:
    # FULL: a commit (and so a 2xx to a provider) survives power loss. NORMAL survives a crash
    # of the hub but not of the machine; faster where fsync is slow.
    value = os.environ.get("HUB_SQLITE_SYNCHRONOUS", "FULL").upper()
    return value if value in ("FULL", "NORMAL", "EXTRA") else "FULL"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets web and worker processes read while one writes; FULL makes a commit survive
    # power loss, which is what answering 2xx to a provider promises.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={_synchronous()}")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Transactions are begun explicitly (below), not by the driver.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Any) -> None:
    # Several processes write to one SQLite file: a transaction that read and then writes
    # would fail on a snapshot another process changed meanwhile. Taking the write lock at
    # BEGIN makes writers queue (busy_timeout) instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


# The hub's large values (a provider's payload, a call's state, the exchanges of an attempt: JSON
# of several KB, compressed by PostgreSQL when stored) take lz4 where the server has it (14+,
# built with lz4): it compresses several times faster than the default pglz, for a few percent
# more bytes, and every value stays readable whichever method wrote it. One statement, no error
# on a server without it.
_LZ4 = (
    "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings"
    " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(_LZ4)
    finally:
        dbapi_connection.autocommit = autocommit


def driver_url(url: str) -> str:
    """`url` with the psycopg driver named: managed PostgreSQL hosts hand out `postgres://` and
    `postgresql://` URLs, which SQLAlchemy would otherwise read as psycopg2 (not installed)."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    if not url.startswith(("sqlite:", "postgresql+psycopg:")):
        scheme = url.split(":", 1)[0] or "(none)"
        raise ConfigError(
            [
                f"DATABASE_URL scheme {scheme!r} is not supported: use sqlite:///PATH or postgresql://USER@HOST/DB"
            ]
        )
    return url


def make_engine(url: str, *, writer: bool = True) -> Engine:
    """The engine for `url`; on SQLite a `writer` engine takes the write lock when a transaction
    begins, a reader's transactions read a snapshot and never block writers (WAL)."""
    url = driver_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: error messages end up in stored failures and RQ's records; the values
        # (phone numbers, payloads) must not.
        engine = create_engine(url, connect_args={"timeout": 10}, pool_pre_ping=False, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        if writer:
            event.listen(engine, "begin", _begin_immediate)
        return engine
    engine = create_engine(
        driver_url(url), pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True
    )
    event.listen(engine, "connect", _postgres_session)
    return engine


class _FileLock:
    """An exclusive lock shared by every process using one SQLite file.

    SQLite's own busy handler sleeps with growing back-off (up to 100 ms a try) while another
    process holds the write lock; under concurrent webhooks that turns sub-millisecond writes
    into 100 ms waits. Polling an flock every millisecond or two hands the lock over at once,
    and gives up after a deadline instead of hanging a webhook past the provider's timeout.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self, timeout_s: float) -> Iterator[None]:
        deadline = time.monotonic() + timeout_s
        if not self._thread_lock.acquire(timeout=timeout_s):
            raise StorageUnavailable(f"the database stayed locked for {timeout_s:g} s")
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            pause = 0.0002
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StorageUnavailable(f"the database stayed locked for {timeout_s:g} s") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
            writer_entered()
            try:
                yield
            finally:
                writer_left()
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


class Database:
    #: How long a writer waits for SQLite's write lock before the write fails (a webhook then
    #: answers 503 and the provider retries, instead of timing out on us).
    WRITE_LOCK_TIMEOUT_S = 10.0

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock: _FileLock | None = None
        self.read_engine = self.engine
        if url.startswith("sqlite") and ":memory:" not in url:
            self._write_lock = _FileLock(Path(url.split("///", 1)[-1] + ".lock"))
            self.read_engine = make_engine(url, writer=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """For queries only: never waits for writers (nothing it changes is committed)."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def session(self, lock_timeout_s: float | None = None) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back when it raises."""
        with self.write_lock(lock_timeout_s):
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def write_lock(self, timeout_s: float | None = None) -> AbstractContextManager[None]:
        """Held around every write transaction on SQLite (see _FileLock); a no-op elsewhere."""
        if self._write_lock is None:
            return nullcontext()
        return self._write_lock.held(self.WRITE_LOCK_TIMEOUT_S if timeout_s is None else timeout_s)

    # Alembic (with Mako and Pygments, ~10 MB) is imported by the methods that migrate or report
    # on migrations only: every web and worker process checks the schema at start (is_current),
    # which reads the revision files and the version table without it.

    def _alembic(self) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        return config

    def migrate(self) -> list[str]:
        """Bring the schema to the newest revision (idempotent); the revisions applied, oldest first."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        config = self._alembic()
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes starting at once must not migrate concurrently.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(724011)")
            applied = self._pending(MigrationContext.configure(connection).get_current_revision())
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return applied

    def downgrade(self, revision: str) -> tuple[str | None, str | None]:
        """Undo revisions down to `revision` (before installing an older version); (before, after)."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        config = self._alembic()
        with self.engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
        with self.engine.connect() as connection:
            return before, MigrationContext.configure(connection).get_current_revision()

    def schema_status(self) -> tuple[str | None, str | None, list[str]]:
        """(current revision, newest revision, revisions still to apply, oldest first)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        return current, head, self._pending(current)

    def _pending(self, current: str | None) -> list[str]:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic())
        revisions = [revision.revision for revision in script.iterate_revisions("head", current)]
        return list(reversed(revisions))

    def is_current(self) -> bool:
        """Whether the database is at the newest revision."""
        # A read: a process starting while another holds SQLite's write lock must not wait for it.
        with self.read_engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return False
            version = select(column("version_num", String)).select_from(table(VERSION_TABLE))
            recorded = [str(value) for value in connection.execute(version).scalars()]
        return recorded == [head_revision()]

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def head_revision(versions: Path = MIGRATIONS / "versions") -> str:
    """The newest revision: the one no other revision names as its `down_revision`.

    Read from the revision files' own `revision = ...` and `down_revision = ...` lines, as Alembic
    reads them, without importing Alembic or the files. The chain has one head (a second one is a
    mistake Alembic also refuses to upgrade past)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target = node.targets[0]
            if not isinstance(target, ast.Name) or target.id not in ("revision", "down_revision"):
                continue
            value = ast.literal_eval(node.value)
            names = value if isinstance(value, tuple | list) else (value,)
            (revisions if target.id == "revision" else parents).update(n for n in names if n)
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise ConfigError(
            [f"the migrations in {versions} have {len(heads)} heads ({', '.join(heads)}), not one"]
        )
    return heads[0]


def migrate_schema(url: str) -> None:
    """Bring the database at `url` to the newest schema, then close its connections."""
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()
