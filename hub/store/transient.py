"""Which storage errors pass on their own: retried later, never recorded as a failure.

A deadlock, a serialization failure, a dropped connection, a database restarting, SQLite busy past
the hub's deadline or a full disk say nothing about the receipt or delivery being written; the
same work succeeds once the database is back. Errors about the data (a value too long for its
column, a constraint) do not pass by waiting and are kept with the work as its failure.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from hub.core.errors import StorageUnavailable

# PostgreSQL SQLSTATE classes and codes that mean "try again": 40 transaction rollback (40001
# serialization failure, 40P01 deadlock), 08 connection exception, 53 insufficient resources
# (disk full, out of memory, too many connections), 57P admin shutdown / crash shutdown / cannot
# connect now, 55P03 lock not available.
_TRANSIENT_SQLSTATE_PREFIXES = ("40", "08", "53", "57P")
_TRANSIENT_SQLSTATES = frozenset({"55P03"})


def is_transient(exc: BaseException) -> bool:
    """True when the same storage work is expected to succeed if tried again later."""
    if isinstance(exc, StorageUnavailable | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(state, str) and state:
            return state.startswith(_TRANSIENT_SQLSTATE_PREFIXES) or state in _TRANSIENT_SQLSTATES
        # SQLite (and a driver that gave no SQLSTATE): "database is locked", "disk I/O error",
        # "database or disk is full", "unable to open database file" are all operational.
        return isinstance(exc, OperationalError | InterfaceError)
    return False
