"""YAML loading that remembers where each value came from, so errors can name file and line.

Mappings loaded here are `LineMap`s: plain dicts with the line of every key. Keys that YAML 1.1
turns into booleans or numbers (`on:`, `no:`, `1:`) are reported instead of silently accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class LineMap(dict[str, Any]):
    """A mapping from YAML with `line` (its own) and `key_lines` (each key's), 1-based."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    problems: list[str]
    filename: str


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineMap:
    result = LineMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            hint = " (YAML 1.1 reads on/off/yes/no as booleans: quote it)" if isinstance(key, bool) else ""
            loader.problems.append(f"{loader.filename}:{line}: key {key_node.value!r} is not a string{hint}")
            key = str(key_node.value)
        if key in result:
            loader.problems.append(f"{loader.filename}:{line}: duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(text: str, filename: str) -> tuple[Any, list[str]]:
    """Parse YAML text; returns the data and the problems found (syntax errors included)."""
    loader = _Loader(text)
    loader.problems = []
    loader.filename = filename
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        return None, [f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}"]
    finally:
        loader.dispose()
    return data, loader.problems


def load_file(path: Path) -> tuple[Any, list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror}"]
    return load(text, str(path))
