"""Keeps the local fakes apart from the code that ships to production (run by `make lint`).

- No module outside `connectors/<type>/fake/` imports a fake. Sandbox mode reaches a fake only
  through `connectors.registry.sandbox_app`, which loads it by name; tests and the bench may
  import fakes freely and are not checked.
- A fake imports nothing of the project but its own package, `connectors.base` and the store
  that keeps sandbox records (`connectors.fake_store`): it keeps its
  own copy of the vendor's facts, so a limit the connector gets wrong cannot pass on both sides.

Exits 1 listing every offending import as `path:line: problem`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED_PACKAGES = ("hub", "webhooks", "connectors")
PROJECT_PACKAGES = frozenset(CHECKED_PACKAGES)
#: What a fake may import of the project besides its own package.
#: (`connectors.fake_store` is plumbing, the database that keeps sandbox records: no vendor facts.)
FAKE_MAY_IMPORT = ("connectors.base", "connectors.fake_store")


def imported_modules(tree: ast.Module, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import statement, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # `from connectors.x import fake` names a module too.
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def fake_package(module: str) -> str | None:
    """`connectors.<type>.fake` when `module` is that package or inside it, else None."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[0] == "connectors" and parts[2] == "fake":
        return ".".join(parts[:3])
    return None


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def problems_in(path: Path, root: Path = ROOT) -> list[str]:
    """Every forbidden import in one file."""
    module = module_name(path, root)
    own_fake = fake_package(module)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for line, target in imported_modules(tree, module):
        where = f"{path.relative_to(root)}:{line}"
        target_fake = fake_package(target)
        if own_fake is None:
            if target_fake is not None:
                found.append(f"{where}: production code imports the fake {target_fake}")
            continue
        if target.split(".")[0] not in PROJECT_PACKAGES or target_fake == own_fake:
            continue
        # `from connectors.base import Exchange` also yields "connectors.base.Exchange": a name in it.
        if target in FAKE_MAY_IMPORT or target.rsplit(".", 1)[0] in FAKE_MAY_IMPORT:
            continue
        found.append(f"{where}: the fake imports {target} (keep its own copy of vendor facts)")
    return found


def all_problems(root: Path = ROOT) -> list[str]:
    """Every forbidden import under the checked packages."""
    problems: list[str] = []
    for package in CHECKED_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            problems += problems_in(path, root)
    return problems


def main() -> int:
    problems = all_problems()
    for problem in dict.fromkeys(problems):
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
