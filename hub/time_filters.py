"""The one grammar for every `--since` / `--until` and API time filter.

Accepted: ISO 8601 times and dates (`2026-11-30T08:00:00Z`, `2026-11-30`; a time without an
offset is UTC), a duration before now (`90s`, `90m`, `2h`, `7d`, `2w`), and the words `now`,
`today` and `yesterday` (midnight UTC). Anything else is refused with the grammar in the message,
never guessed: `1h` read as a clock time once meant "01:00 today".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

GRAMMAR = "an ISO 8601 time (2026-11-30T08:00:00Z), a date, a duration before now (90m, 2h, 7d, 2w), now, today or yesterday"

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TimeFilterError(ValueError):
    """A time argument outside the grammar; the message says what is accepted."""


def parse_time(text: str, *, now: datetime | None = None, name: str = "time") -> datetime:
    """The moment `text` names, timezone-aware (UTC unless the text carries an offset)."""
    moment_now = now or datetime.now(UTC)
    value = text.strip().lower()
    if not value:
        raise TimeFilterError(f"{name} needs a value: {GRAMMAR}")
    duration = _DURATION.match(value)
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)
        return moment_now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    midnight = moment_now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    words = {"now": moment_now, "today": midnight, "yesterday": midnight - timedelta(days=1)}
    if value in words:
        return words[value]
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeFilterError(f"{name} {text!r} is not {GRAMMAR}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_optional(text: str | None, *, now: datetime | None = None, name: str = "time") -> datetime | None:
    """`parse_time` for an argument that may be absent."""
    return None if text is None else parse_time(text, now=now, name=name)
