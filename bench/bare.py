"""The baseline: a bare Flask endpoint answering 202, served with the hub's own server settings."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def create() -> Flask:
    app = Flask("bare")

    @app.post("/webhooks/<source_id>")
    def accept(source_id: str) -> tuple[Response, int]:
        request.get_data()
        return jsonify(status="accepted"), 202

    return app
