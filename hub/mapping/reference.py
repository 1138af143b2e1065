"""The reference tables of docs/mappings.md, generated from the code so they cannot drift.

`python -m hub.mapping.reference docs/mappings.md` rewrites the generated sections in place; a
test fails when the file is out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hub.core.events import known_paths
from hub.mapping.conditions import GROUPS, OPERATORS
from hub.mapping.paths import CUSTOM_PREFIX, DESCRIPTIONS, VOCABULARIES, kind_of_path
from hub.mapping.transforms import TRANSFORM_SPECS

_SECTION = re.compile(r"(<!-- generated:(\w+) -->\n).*?(<!-- end generated -->)", re.S)


def paths_table() -> str:
    rows = ["| Path | Kind | What it holds |", "|---|---|---|"]
    for path in known_paths():
        rows.append(f"| `{path}` | {kind_of_path(path)} | {DESCRIPTIONS[path]} |")
    rows.append(
        f"| `{CUSTOM_PREFIX}<key>` | any | Provider-specific data the parser kept; `custom.a.b` walks into it. |"
    )
    return "\n".join(rows)


def transforms_table() -> str:
    rows = ["| Transform | Accepts | Gives | What it does |", "|---|---|---|---|"]
    for spec in TRANSFORM_SPECS.values():
        accepts = ", ".join(sorted(spec.accepts))
        rows.append(f"| `{spec.name}` | {accepts} | {spec.returns or 'the mapped values'} | {spec.summary} |")
    return "\n".join(rows)


def operators_table() -> str:
    rows = ["| Operator | Holds when |", "|---|---|"]
    rows.extend(f"| `{name}` | {text} |" for name, text in OPERATORS.items())
    rows.extend(f"| `{name}:` | {text} |" for name, text in GROUPS.items())
    return "\n".join(rows)


def vocabularies_table() -> str:
    rows = ["| Path | Values |", "|---|---|"]
    rows.extend(
        f"| `{path}` | {', '.join(f'`{v}`' for v in values)} |" for path, values in VOCABULARIES.items()
    )
    return "\n".join(rows)


SECTIONS = {
    "paths": paths_table,
    "transforms": transforms_table,
    "operators": operators_table,
    "vocabularies": vocabularies_table,
}


def regenerate(text: str) -> str:
    """`text` with every `<!-- generated:NAME -->` section replaced by the current table."""
    return _SECTION.sub(lambda match: f"{match[1]}{SECTIONS[match[2]]()}\n{match[3]}", text)


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(regenerate(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
