"""Mounts the console on the hub's Flask app."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from hub.console import pages_admin, pages_auth, pages_calls, pages_deliveries  # noqa: F401 - routes
from hub.console.web import blueprint, configure


@blueprint.errorhandler(HTTPException)
def _error(exc: HTTPException) -> tuple[str, int] | HTTPException:
    if request.path.startswith("/console/data/"):
        return exc
    return render_template(
        "console/error.html", code=exc.code, name=exc.name, description=exc.description
    ), exc.code or 500


def register(app: Flask) -> None:
    configure(app)
    app.register_blueprint(blueprint)
