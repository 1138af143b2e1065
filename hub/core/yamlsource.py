"""The YAML loader: it remembers where things were written, so every problem can name its line.

PyYAML forgets positions once nodes become Python objects. Two readings keep them:

- `load_yaml` / `load_file` (hub.yaml and the mapping files) build dict and list subclasses
  carrying the line of each key or item and the raw text of each scalar, so a YAML 1.1 trap
  (a bare `no`, `on`, `yes` or `off` read as a boolean) can be named where it was written;
- `load_located` (YAML-defined provider definitions) resolves only the YAML 1.2 core scalars
  (null, true/false, decimal numbers) and leaves the rest as text: there `on`, `2024-03-12` and
  `1:30` are status words, dates and times. It returns plain values beside the line of every key
  and list item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# What YAML 1.1 turns into booleans besides true/false: worth a hint whenever one shows up.
TRAP_WORDS = frozenset({"yes", "no", "on", "off"})


class YamlMap(dict[Any, Any]):
    """A mapping with the line of the mapping itself, of each key, and each value's source text."""

    line: int
    key_lines: dict[Any, int]
    raw: dict[Any, str]
    raw_keys: dict[Any, str]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A sequence with its own line, the line of each item and each scalar item's source text."""

    line: int
    item_lines: list[int]
    raw: list[str | None]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class DuplicateKeyError(yaml.MarkedYAMLError):
    """PyYAML silently keeps the last of two equal keys; in a mapping file that hides a mistake."""


def _raw(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


class _LineLoader(yaml.SafeLoader):
    def construct_yaml_map(self, node: MappingNode) -> Any:
        result = YamlMap()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        result.raw = {}
        result.raw_keys = {}
        yield result
        own_pairs = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)
        # flatten_mapping puts pairs merged in by `<<:` first; the mapping's own keys may override
        # them, but two own keys with the same name are a mistake.
        merged_pairs = len(node.value) - own_pairs
        own_keys: set[Any] = set()
        for position, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found an unusable key",
                    key_node.start_mark,
                )
            if position >= merged_pairs:
                if key in own_keys:
                    raise DuplicateKeyError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                own_keys.add(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
            raw_key = _raw(key_node)
            if raw_key is not None:
                result.raw_keys[key] = raw_key
            raw_value = _raw(value_node)
            if raw_value is not None:
                result.raw[key] = raw_value

    def construct_yaml_seq(self, node: SequenceNode) -> Any:
        result = YamlList()
        result.line = node.start_mark.line + 1
        result.item_lines = [item.start_mark.line + 1 for item in node.value]
        result.raw = [_raw(item) for item in node.value]
        yield result
        result.extend(self.construct_object(item, deep=True) for item in node.value)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_yaml_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_yaml_seq)


def load_yaml(text: str) -> Any:
    """Parse one YAML document into YamlMap / YamlList / scalars; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass


def error_line(exc: yaml.YAMLError) -> int:
    """The 1-based line a YAML error points at (1 when PyYAML gives no position)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def error_text(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [part for part in (exc.context, exc.problem) if part]
        return "; ".join(parts) or str(exc)
    return str(exc)


def is_trap(raw: str | None) -> bool:
    """True when the source text was a YAML 1.1 boolean word other than true/false."""
    return raw is not None and raw.lower() in TRAP_WORDS


def to_plain(value: Any) -> Any:
    """Plain dicts and lists (what connectors and JSON expect) from YamlMap / YamlList trees."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    return value


def load_file(path: Path) -> tuple[Any, list[str]]:
    """Parse a YAML file; returns the data and problems ("file:line: message"), never raising."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror}"]
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        return None, [f"{path}:{error_line(exc)}: invalid YAML: {error_text(exc)}"]
    return data, [f"{path}:{line}: {message}" for line, message in non_text_keys(data)]


def non_text_keys(value: Any) -> list[tuple[int, str]]:
    """(line, message) for every key YAML did not read as text (`on:` became True, `1:` a number)."""
    found: list[tuple[int, str]] = []
    if isinstance(value, YamlMap):
        for key, item in value.items():
            if not isinstance(key, str):
                spelled = value.raw_keys.get(key, str(key))
                hint = (
                    " (YAML 1.1 reads on/off/yes/no as booleans: quote it)" if isinstance(key, bool) else ""
                )
                found.append((value.line_of(key), f"key {spelled!r} is not a string{hint}"))
            found.extend(non_text_keys(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(non_text_keys(item))
    return found


# --- YAML 1.2 core schema, for provider definitions --------------------------------------------

#: Where a value sits in a document: the keys and list indexes leading to it.
KeyPath = tuple[str | int, ...]


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
    """A document `load_located` cannot read, with the line to fix."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Located:
    """A plain Python value plus the 1-based line of every key and list item in it."""

    value: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int:
        """Line of the deepest known step of `path` (a missing key reports its parent's line)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def load_located(text: str) -> Located:
    """Parse one YAML 1.2 core-schema document; YamlProblem names a syntax error's or duplicate's line."""
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        located = Located(None, {(): 1})
        if node is not None:
            located.value = _located(loader, node, (), located.lines)
        return located
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(error_line(exc), str(exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(1, str(exc)) from exc
    finally:
        loader.dispose()


def _located(loader: _CoreLoader, node: Node, path: KeyPath, lines: dict[KeyPath, int]) -> Any:
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
            result[name] = _located(loader, value_node, (*path, name), lines)
        return result
    if isinstance(node, SequenceNode):
        return [_located(loader, item, (*path, index), lines) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
