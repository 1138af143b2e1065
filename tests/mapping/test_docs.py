"""docs/mappings.md stays true: generated tables are current and every example loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.core.events import known_paths
from hub.mapping import TRANSFORMS, load_mapping
from hub.mapping.conditions import OPERATORS
from hub.mapping.paths import DESCRIPTIONS
from hub.mapping.reference import regenerate

DOC = Path(__file__).resolve().parents[2] / "docs" / "mappings.md"
EXAMPLES = re.findall(r"```yaml\n(version: 1\n.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_generated_sections_are_current():
    text = DOC.read_text(encoding="utf-8")
    assert regenerate(text) == text, "run: .venv/bin/python -m hub.mapping.reference docs/mappings.md"


def test_every_path_transform_and_operator_is_documented():
    text = DOC.read_text(encoding="utf-8")
    assert set(DESCRIPTIONS) == set(known_paths())
    for name in [*known_paths(), *TRANSFORMS, *OPERATORS]:
        assert f"`{name}`" in text


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example{index}" for index in range(len(EXAMPLES))])
def test_doc_examples_load(tmp_path, example):
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    load_mapping(path)


def test_there_are_worked_examples():
    assert len(EXAMPLES) >= 4
