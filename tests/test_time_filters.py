"""The one time grammar shared by every --since / --until and API filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.time_filters import TimeFilterError, parse_optional, parse_time

NOW = datetime(2026, 11, 30, 15, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("90m", NOW - timedelta(minutes=90)),
        ("1h", NOW - timedelta(hours=1)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("now", NOW),
        ("today", datetime(2026, 11, 30, tzinfo=UTC)),
        ("Yesterday", datetime(2026, 11, 29, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:30:00Z", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T08:30:00", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T08:30:00-05:00", datetime(2026, 11, 1, 13, 30, tzinfo=UTC)),
    ],
)
def test_accepted_spellings(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "  ", "7x", "1 hour", "-2h", "12:00", "last week", "2026-13-01"])
def test_anything_else_is_refused_with_the_grammar(text: str) -> None:
    with pytest.raises(TimeFilterError, match="duration before now"):
        parse_time(text, now=NOW, name="--since")


def test_absent_is_none() -> None:
    assert parse_optional(None) is None
