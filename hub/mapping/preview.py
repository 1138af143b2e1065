"""What changes between two renderings of the same call (`hub preview --mapping new.yaml`).

Items are paired by mapping file first, then by target (a candidate file replacing the current
one writes the same object under another path), then in order; what is left was added or removed.
Only differences are listed: an empty result means the destination would receive the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.core.records import RenderedRecord, Skip

Rendering = RenderedRecord | Skip

_INDENT = "    "


def diff_records(old: Sequence[Rendering], new: Sequence[Rendering]) -> list[str]:
    """Human-readable lines describing how `new` differs from `old`; empty when they agree."""
    pairs, removed, added = _pair(list(old), list(new))
    lines: list[str] = []
    for before, after in pairs:
        lines.extend(_diff_pair(before, after))
    for item in removed:
        lines.append(f"- {_label(item)}: no longer rendered")
        if isinstance(item, RenderedRecord):
            lines.extend(_field_lines({}, item.fields))
    for item in added:
        lines.append(
            f"+ {_label(item)}: newly rendered" if isinstance(item, RenderedRecord) else f"+ {_label(item)}"
        )
        if isinstance(item, RenderedRecord):
            lines.extend(_field_lines({}, item.fields))
    return lines


def _pair(
    old: list[Rendering], new: list[Rendering]
) -> tuple[list[tuple[Rendering, Rendering]], list[Rendering], list[Rendering]]:
    pairs: list[tuple[Rendering, Rendering]] = []
    keys: list[Callable[[Rendering], Any]] = [
        lambda item: item.mapping,
        lambda item: item.target if isinstance(item, RenderedRecord) else None,
    ]
    for key in keys:
        for before in list(old):
            wanted = key(before)
            after = next((item for item in new if wanted is not None and key(item) == wanted), None)
            if after is not None:
                pairs.append((before, after))
                old.remove(before)
                new.remove(after)
    positional = min(len(old), len(new))
    pairs.extend(zip(old[:positional], new[:positional], strict=True))
    return pairs, old[positional:], new[positional:]


def _diff_pair(before: Rendering, after: Rendering) -> list[str]:
    if isinstance(before, Skip) and isinstance(after, Skip):
        if before.reason == after.reason:
            return []
        return [f"~ {_label(after)}: still skipped, now because {after.reason} (was {before.reason})"]
    if isinstance(after, Skip):
        assert isinstance(before, RenderedRecord)
        return [f"- {_label(before)}: no longer written ({after.reason})", *_field_lines(before.fields, {})]
    if isinstance(before, Skip):
        return [
            f"+ {_label(after)}: now written (was skipped: {before.reason})",
            *_field_lines({}, after.fields),
        ]
    return _record_diff(before, after)


def _record_diff(before: RenderedRecord, after: RenderedRecord) -> list[str]:
    details: list[str] = []
    if before.target != after.target:
        details.append(f"{_INDENT}target: {before.target} -> {after.target}")
    if tuple(before.match) != tuple(after.match):
        details.append(f"{_INDENT}match: {_show(list(before.match))} -> {_show(list(after.match))}")
    if dict(before.options) != dict(after.options):
        details.append(f"{_INDENT}options: {_show(dict(before.options))} -> {_show(dict(after.options))}")
    details.extend(_field_lines(before.fields, after.fields))
    return [f"~ {_label(after)}", *details] if details else []


def _field_lines(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    lines = []
    for name in [*before, *(name for name in after if name not in before)]:
        if name not in after:
            lines.append(f"{_INDENT}- {name}: {_show(before[name])} (no longer sent)")
        elif name not in before:
            lines.append(f"{_INDENT}+ {name}: {_show(after[name])}")
        elif before[name] != after[name]:
            lines.append(f"{_INDENT}~ {name}: {_show(before[name])} -> {_show(after[name])}")
    return lines


def _label(item: Rendering) -> str:
    if isinstance(item, RenderedRecord):
        return f"{item.target} ({item.mapping})"
    return f"{item.mapping} (skipped: {item.reason})"


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
