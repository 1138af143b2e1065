"""The webhook request's one write, on the DB-API directly.

This insert is the whole cost of receiving a call beyond Flask itself, and SQLAlchemy's
execution machinery costs more than the row (measured: ~150 us of ~220 us on SQLite). The
statement is compiled once for the dialect and the column types' own bind processors are
applied, so the row is exactly what the ORM would write and read back.

On PostgreSQL the insert is one round trip: the kept connection is in autocommit, so the INSERT
is its own transaction, and the server answers only once that transaction is committed (with
`synchronous_commit` on, its WAL is flushed). An explicit BEGIN and COMMIT would be two more
round trips for the same durability. The statement is prepared on the server once per connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from hub.core.errors import StorageUnavailable
from hub.store.bulk import CompiledWrite
from hub.store.db import Database
from hub.store.models import RECEIPTS

_COLUMNS = (
    "source",
    "provider",
    "receipt_key",
    "method",
    "url",
    "headers",
    "body",
    "received_at",
    "status",
    "events_count",
    "parse_attempts",
    "updated_at",
)


class ReceiptWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        dialect = db.engine.dialect
        statement = (
            insert(RECEIPTS).values({name: bindparam(name) for name in _COLUMNS}).returning(RECEIPTS.c.id)
        )
        self.statement = CompiledWrite.of(statement, dialect)
        self.sqlite = dialect.name == "sqlite"
        self._local = threading.local()
        # Every thread's kept connection, so `close` can close them all (a thread-local cannot).
        self._kept: set[Any] = set()
        self._kept_lock = threading.Lock()
        dbapi = dialect.loaded_dbapi
        #: A duplicate (source, receipt key): the same delivery again.
        self.duplicate_errors: tuple[type[BaseException], ...] = (dbapi.IntegrityError, IntegrityError)
        #: Anything else the database says: the delivery is not stored.
        self.dbapi_operational: type[BaseException] = dbapi.OperationalError
        self.storage_errors: tuple[type[BaseException], ...] = (dbapi.Error, DBAPIError, StorageUnavailable)

    def _connection(self) -> Any:
        # One DB-API connection per thread, kept: checking one out of the pool and resetting it
        # on return costs as much as the insert on SQLite.
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.db.engine.raw_connection()
            connection.detach()
            if not self.sqlite:
                try:
                    # The pool's liveness check may have left a transaction open; autocommit can
                    # only be switched on outside one.
                    connection.rollback()
                    driver_connection = connection.dbapi_connection
                    assert driver_connection is not None, "a detached connection keeps its driver connection"
                    driver_connection.autocommit = True
                except BaseException:
                    self._close(connection)
                    raise
            self._local.connection = connection
            with self._kept_lock:
                self._kept.add(connection)
        return connection

    def _discard(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            self._close(connection)

    def _close(self, connection: Any) -> None:
        with self._kept_lock:
            self._kept.discard(connection)
        # Closing a connection the database already dropped raises; it is gone either way.
        with contextlib.suppress(Exception):
            connection.close()

    def close(self) -> None:
        """Close the connections kept for inserts (the pool's dispose does not reach them)."""
        with self._kept_lock:
            kept = list(self._kept)
        for connection in kept:
            self._close(connection)

    #: A webhook waits at most this long for SQLite's write lock, then answers 503.
    LOCK_TIMEOUT_S = 5.0

    def insert(self, values: Mapping[str, Any]) -> int:
        """Insert and commit one receipt; returns its id. Raises the driver's IntegrityError on a duplicate.

        A kept connection may have died with a database restart: the insert is tried once more
        on a fresh one (safe: a receipt that did land makes the retry a duplicate).
        """
        try:
            return self._insert(values)
        except self.duplicate_errors:
            raise
        except (self.dbapi_operational, DBAPIError) as exc:
            if (
                isinstance(exc, DBAPIError)
                and not exc.connection_invalidated
                and not isinstance(exc, OperationalError)
            ):
                raise
            return self._insert(values)

    def _insert(self, values: Mapping[str, Any]) -> int:
        args = self.statement.arguments(values)
        with self.db.write_lock(self.LOCK_TIMEOUT_S):
            connection = self._connection()
            try:
                cursor = connection.cursor()
                if self.sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                    cursor.execute(self.statement.sql, args)
                else:
                    # Autocommit: this call returns once the row is committed (see the module doc).
                    cursor.execute(self.statement.sql, args, prepare=True)
                row = cursor.fetchone()
                assert row is not None, "INSERT ... RETURNING returned no row"
                receipt_id = int(row[0])
                cursor.close()
                if self.sqlite:
                    connection.commit()
            except self.duplicate_errors:
                connection.rollback()
                raise
            except BaseException:
                # The connection may be broken (database restarted): the next insert opens a new one.
                self._discard()
                raise
        return receipt_id
