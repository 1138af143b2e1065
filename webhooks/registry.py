"""Finds providers: built-in modules of this package by slug, else a YAML definition.

A new built-in provider is a module `webhooks/<slug>.py` (or package) defining one `Provider`
subclass whose `slug` equals the module name. A provider without code is a file
`<mappings dir>/providers/<slug>.yaml` read by the generic provider.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from hub.core.errors import ConfigError
from webhooks.base import Provider, SourceSettings

_NOT_PROVIDERS = {"assemble", "auth", "base", "generic", "registry"}


def builtin_slugs() -> list[str]:
    import webhooks

    return sorted(
        module.name for module in pkgutil.iter_modules(webhooks.__path__) if module.name not in _NOT_PROVIDERS
    )


def builtin_class(slug: str) -> type[Provider] | None:
    if slug not in builtin_slugs():
        return None
    module = importlib.import_module(f"webhooks.{slug}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Provider) and getattr(value, "slug", None) == slug:
            return value
    raise ConfigError([f"webhooks/{slug}: module defines no Provider subclass with slug {slug!r}"])


def definition_path(slug: str, mappings_dir: Path) -> Path:
    return mappings_dir / "providers" / f"{slug}.yaml"


def yaml_slugs(mappings_dir: Path) -> list[str]:
    folder = mappings_dir / "providers"
    return sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []


def available(mappings_dir: Path) -> list[str]:
    return sorted(set(builtin_slugs()) | set(yaml_slugs(mappings_dir)))


def create(slug: str, settings: SourceSettings, mappings_dir: Path) -> Provider:
    """The provider for one source; ConfigError names what is missing."""
    cls = builtin_class(slug)
    if cls is not None:
        return cls(settings)
    path = definition_path(slug, mappings_dir)
    if path.is_file():
        from webhooks.generic import GenericProvider

        return GenericProvider.from_file(path, settings)
    raise ConfigError(
        [
            f"unknown provider {slug!r}: no module webhooks/{slug}.py and no definition {path}",
            f"  known providers: {', '.join(available(mappings_dir))}",
        ]
    )
