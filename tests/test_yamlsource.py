"""The YAML loader: lines for every problem, YAML 1.1 traps named, and a YAML 1.2 core-schema reading."""

from __future__ import annotations

import pytest

from hub.core.yamlsource import YamlMap, YamlProblem, is_trap, load_located, load_yaml, non_text_keys


def test_the_line_keeping_reading_names_where_a_trap_was_written() -> None:
    data = load_yaml("sources:\n  main:\n    enabled: no\n  on: 1\n")

    assert isinstance(data, YamlMap)
    sources = data["sources"]
    assert sources["main"]["enabled"] is False
    assert is_trap(sources["main"].raw["enabled"])
    assert sources["main"].line_of("enabled") == 3
    assert non_text_keys(data) == [
        (4, "key 'on' is not a string (YAML 1.1 reads on/off/yes/no as booleans: quote it)")
    ]


def test_the_core_schema_reading_keeps_words_dates_and_times_as_text() -> None:
    doc = load_located(
        "status:\n  on: answered\n  200: ok\nwhen: 2024-03-12\nlength: 1:30\nflags: [true, 7, 2.5, ~]\n"
    )

    assert doc.value == {
        "status": {"on": "answered", "200": "ok"},
        "when": "2024-03-12",
        "length": "1:30",
        "flags": [True, 7, 2.5, None],
    }
    assert doc.line(("status", "200")) == 3
    assert doc.line(("flags", 2)) == 6
    assert doc.line(("status", "missing")) == 1


@pytest.mark.parametrize(("text", "line"), [("a: 1\nb: 2\na: 3\n", 3), ("a: 1\nb: c: d\n", 2)])
def test_the_core_schema_reading_names_the_line_of_a_problem(text: str, line: int) -> None:
    with pytest.raises(YamlProblem) as raised:
        load_located(text)

    assert raised.value.line == line
