"""Finds connectors by type: `connectors/<type>/` defines one `Connector` subclass with that `type`.

Each connector package may also have a `fake/` package whose `create_app(**options) -> flask.Flask`
is the local fake of its API: tests use it, and `hub run` starts it when no credentials are
configured. Its control routes (faults, recordings, reset) live under `FAKE_CONTROL_PREFIX`.
It may have `cli.py` with `register(commands)`, adding `hub <type> ...` commands, and admin
reports on its connector class (see connectors.hooks).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.base import Connector
from connectors.hooks import AdminReport
from connectors.lossy import LosableResponses
from hub.core.errors import ConfigError


def types() -> list[str]:
    import connectors

    # A connector is a package; modules beside them (base, registry, history) are shared code.
    return sorted(m.name for m in pkgutil.iter_modules(connectors.__path__) if m.ispkg)


#: Classes found so far: the dispatcher asks for a destination's class several times a second,
#: and finding one lists the package's folder.
_FOUND: dict[str, type[Connector]] = {}


def connector_class(type_name: str) -> type[Connector]:
    found = _FOUND.get(type_name)
    if found is not None:
        return found
    found = _find_class(type_name)
    _FOUND[type_name] = found
    return found


def _find_class(type_name: str) -> type[Connector]:
    if type_name not in types():
        raise ConfigError([f"unknown destination type {type_name!r}; known: {', '.join(types())}"])
    module = importlib.import_module(f"connectors.{type_name}")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Connector)
            and getattr(value, "type", None) == type_name
        ):
            return value
    raise ConfigError([f"connectors/{type_name}: defines no Connector subclass with type {type_name!r}"])


def sandbox_app(
    type_name: str, options: Mapping[str, Any] | None = None, state_path: Path | None = None
) -> Any | None:
    """The Flask app faking this destination's API, or None when the connector has no fake.

    `options` (hub.yaml `sandbox:`) shape the fake; `state_path` is where a fake that can keep its
    records across restarts (its `create_app` takes `state_path`) keeps them.
    """
    module_name = f"connectors.{type_name}.fake"
    if importlib.util.find_spec(module_name) is None:
        return None
    create_app = importlib.import_module(module_name).create_app
    kwargs = dict(options or {})
    if state_path is not None and "state_path" in inspect.signature(create_app).parameters:
        kwargs["state_path"] = str(state_path)
    app = create_app(**kwargs)
    # Every fake can lose the answers to some writes on demand (connectors/lossy.py).
    app.wsgi_app = LosableResponses(app.wsgi_app)
    return app


def register_commands(commands: Any) -> None:
    """Let every connector with a `cli.py` add its commands to the `hub` command's sub-parsers."""
    for type_name in types():
        module_name = f"connectors.{type_name}.cli"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(commands)


def admin_reports() -> dict[str, tuple[str, AdminReport]]:
    """Every connector's admin reports by name: name -> (connector type, report)."""
    found: dict[str, tuple[str, AdminReport]] = {}
    for type_name in types():
        for report in connector_class(type_name).admin_reports:
            if report.name in found:
                owner = found[report.name][0]
                raise ConfigError(
                    [f"connectors {owner} and {type_name} both define the report {report.name!r}"]
                )
            found[report.name] = (type_name, report)
    return found
