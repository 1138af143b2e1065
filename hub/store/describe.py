"""A storage error told in one log-safe line: what failed, never the data being written.

SQLAlchemy's own message repeats the statement's parameters (a delivery's body, a caller's
number); the driver's first line and its SQLSTATE say what went wrong without them.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError, StatementError

#: Long digit runs may be phone numbers or ids quoted back by the driver: never logged.
_DIGITS = re.compile(r"\d{5,}")
_LIMIT = 200


def storage_error_detail(exc: BaseException) -> str:
    """`Class (SQLSTATE): first line of the driver's message`, digits runs masked, bounded."""
    cause: BaseException = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        cause = exc.orig
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if not state:
        state = getattr(cause, "sqlite_errorname", None)
    name = type(exc).__name__ if cause is exc else f"{type(exc).__name__}/{type(cause).__name__}"
    lines = str(cause).strip().splitlines()
    first = _DIGITS.sub("#", lines[0]) if lines else ""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        first = f"connection lost: {first}" if first else "connection lost"
    label = f"{name} ({state})" if state else name
    text = f"{label}: {first}" if first else label
    return text if len(text) <= _LIMIT else text[: _LIMIT - 3] + "..."
