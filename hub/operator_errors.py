"""One line, saying what to do, for the mistakes operators make when starting the hub."""

from __future__ import annotations

import redis
from sqlalchemy import exc as sql_errors

from hub.core.errors import ConfigError

_DATABASE_HINT = "check DATABASE_URL (sqlite:///PATH or postgresql://USER@HOST/DB), then run `hub migrate`"


def explain(error: BaseException) -> str | None:
    """What to tell the operator about `error`, or None when it is not an operator mistake."""
    if isinstance(error, ConfigError):
        return "\n  ".join(error.problems)
    if isinstance(error, sql_errors.NoSuchModuleError | sql_errors.ArgumentError):
        return f"DATABASE_URL is not a URL the hub can use ({_first_line(error)}): {_DATABASE_HINT}"
    if isinstance(error, sql_errors.OperationalError | sql_errors.InterfaceError):
        return f"cannot use the database: {_first_line(error.orig or error)}; {_DATABASE_HINT}"
    if isinstance(error, sql_errors.ProgrammingError) and "does not exist" in str(error.orig):
        return f"the database has no hub tables yet: run `hub migrate` ({_first_line(error.orig)})"
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return f"cannot reach Redis ({_first_line(error)}): check REDIS_URL and that redis-server runs"
    return None


def _first_line(error: object) -> str:
    # Driver messages can run to several lines of context; the first one says what failed, and
    # SQLAlchemy hides statement parameters (hide_parameters) so no payload leaks into it.
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
