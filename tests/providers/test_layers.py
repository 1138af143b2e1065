"""Provider modules are written on the shared base only: the kernel and the webhooks base modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from webhooks import registry

WEBHOOKS = Path(__file__).resolve().parents[2] / "webhooks"
ALLOWED_PROJECT_MODULES = ("hub.core", "webhooks.base", "webhooks.auth", "webhooks.assemble")
PROJECT_PACKAGES = ("hub", "webhooks", "connectors", "mappings")


def _project_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "webhooks" else [f"webhooks.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in PROJECT_PACKAGES]
    return found


@pytest.mark.parametrize("slug", registry.builtin_slugs())
def test_provider_imports_only_the_kernel_and_the_webhooks_base(slug: str) -> None:
    path = WEBHOOKS / f"{slug}.py"
    forbidden = [
        name
        for name in _project_imports(path)
        if not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_PROJECT_MODULES)
    ]
    assert not forbidden, f"webhooks/{slug}.py imports {forbidden}"


def test_only_twilio_writes_its_own_signature_check() -> None:
    # Every other scheme is a recipe from webhooks/auth.py; Twilio signs URL + sorted parameters.
    handwritten = sorted(
        slug for slug in registry.builtin_slugs() if "verify" in vars(registry.builtin_class(slug) or object)
    )
    assert handwritten == ["twilio"]
