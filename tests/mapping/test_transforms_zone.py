"""`date` in a time zone: an evening call in New York stays on its day."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.mapping.transforms import TRANSFORM_SPECS


def test_date_in_a_zone_keeps_the_local_day() -> None:
    evening = datetime(2024, 3, 13, 1, 30, tzinfo=UTC)  # 21:30 on the 12th in New York
    date = TRANSFORM_SPECS["date"].apply
    assert date(evening, None) == "2024-03-13"
    assert date(evening, "America/New_York") == "2024-03-12"


def test_an_unknown_zone_is_a_load_error_naming_file_line_and_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from hub.core.errors import ConfigError
    from hub.mapping import load_mapping

    good = tmp_path / "good.yaml"
    good.write_text(
        "version: 1\nobject: Task\nfields:\n  ActivityDate: {from: call.started_at, transform: {date: America/New_York}}\n"
    )
    load_mapping(good)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nobject: Task\nfields:\n  ActivityDate: {from: call.started_at, transform: {date: Mars/Olympus}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_mapping(bad)
    assert any(
        f"{bad}:4" in p and "ActivityDate" in p and "IANA time zone" in p for p in caught.value.problems
    ), caught.value.problems
