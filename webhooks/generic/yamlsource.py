"""Reads a provider definition's YAML keeping the line of every key, and without YAML 1.1 traps.

PyYAML follows YAML 1.1: `on`, `off`, `yes`, `no` become booleans, `2024-03-12` a date, `1:30`
the integer 90. In a definition those are status words, dates and times, so this loader resolves
only the YAML 1.2 core scalars (null, true/false, decimal numbers) and leaves the rest as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]


class _CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalar resolution."""


_CoreLoader.yaml_implicit_resolvers = {}
_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$",
        list("-+0123456789."),
    ),
]
for _tag, _pattern, _first in _CORE_RESOLVERS:
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


class YamlProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Located:
    """A plain Python value plus the 1-based line of every key and list item in it."""

    value: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """Line of the deepest known step of `path` (a missing key reports its parent's line)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def load(text: str) -> Located:
    """Parse one YAML document; YamlProblem names the line of a syntax error or duplicate key."""
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        located = Located(None, {(): 1})
        if node is not None:
            located.value = _build(loader, node, (), located.lines)
        return located
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(mark.line + 1 if mark else 1, str(exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(1, str(exc)) from exc
    finally:
        loader.dispose()


def _build(loader: _CoreLoader, node: Node, path: Path, lines: dict[Path, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            # Keys are names: `200:` or `true:` in a value map mean the text the provider sends.
            name = key_node.value if isinstance(key_node, ScalarNode) else str(key)
            if name in result:
                raise YamlProblem(key_node.start_mark.line + 1, f"duplicate key {name!r}")
            lines[(*path, name)] = key_node.start_mark.line + 1
            result[name] = _build(loader, value_node, (*path, name), lines)
        return result
    if isinstance(node, SequenceNode):
        return [_build(loader, item, (*path, index), lines) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
