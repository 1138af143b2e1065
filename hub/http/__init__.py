"""The Flask application: webhook receiver, admin API, health and metrics."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter

from hub.runtime import Runtime


class ItemId(BaseConverter):
    """An item id in a URL, never the collection action beside it (`/deliveries/replay`): so
    `OPTIONS /api/deliveries/replay` does not advertise the item's GET."""

    regex = r"(?!replay$)[^/]+"


def create_app(runtime: Runtime) -> Flask:
    from hub.http import admin, health, receiver

    app = Flask("hub")
    app.url_map.converters["item"] = ItemId
    app.config["HUB_RUNTIME"] = runtime
    # Flask refuses larger bodies before the view runs: allow the largest any source accepts and
    # let the view apply each source's own limit (with the hub's JSON error).
    limits = [
        runtime.settings.max_body_bytes,
        *(s.max_body_bytes or 0 for s in runtime.config.sources.values()),
    ]
    app.config["MAX_CONTENT_LENGTH"] = max(limits)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(receiver.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(health.blueprint)
    from hub.console.app import register as register_console

    register_console(app)
    return app
