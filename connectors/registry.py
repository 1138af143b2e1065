"""Finds connectors by type: `connectors/<type>/` defines one `Connector` subclass with that `type`.

Each connector package may also have a `fake/` package whose `create_app(**options) -> flask.Flask`
is the local fake of its API: tests use it, and `hub run` starts it when no credentials are
configured. Its control routes (faults, recordings, reset) live under `FAKE_CONTROL_PREFIX`.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Any

from connectors.base import Connector
from connectors.lossy import LosableResponses
from hub.core.errors import ConfigError


def types() -> list[str]:
    import connectors

    # A connector is a package; modules beside them (base, registry, history) are shared code.
    return sorted(m.name for m in pkgutil.iter_modules(connectors.__path__) if m.ispkg)


def connector_class(type_name: str) -> type[Connector]:
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


def sandbox_app(type_name: str) -> Any | None:
    """The Flask app faking this destination's API, or None when the connector has no fake."""
    module_name = f"connectors.{type_name}.fake"
    if importlib.util.find_spec(module_name) is None:
        return None
    app = importlib.import_module(module_name).create_app()
    # Every fake can lose the answers to some writes on demand (connectors/lossy.py).
    app.wsgi_app = LosableResponses(app.wsgi_app)
    return app
