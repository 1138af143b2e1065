"""Vendor answers recorded from their documentation, served over HTTP to the real clients.

Each fixture under tests/fixtures/vendors/<vendor>/ holds a status, headers and body with its
source. A `ReplayServer` answers requests with them through small rules (method, path pattern,
and a function choosing the answer), so a test can say "this batch gets HubSpot's 400, the
others succeed" while every byte of the failure is the vendor's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from hub.local_server import LocalServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendors"


@dataclass(frozen=True)
class Recorded:
    """One vendor answer and where it was published."""

    name: str
    source: str
    status: int
    headers: dict[str, str]
    body: Any

    def answer(self, body: Any = None) -> tuple[int, dict[str, str], Any]:
        return self.status, self.headers, self.body if body is None else body


def recorded(vendor: str, name: str) -> Recorded:
    data = json.loads((FIXTURES / vendor / f"{name}.json").read_text())
    assert data.get("source"), f"{vendor}/{name}: every recorded answer names its source"
    return Recorded(name, data["source"], int(data["status"]), dict(data.get("headers") or {}), data["body"])


def all_recorded(vendor: str) -> Iterator[Recorded]:
    for path in sorted((FIXTURES / vendor).glob("*.json")):
        yield recorded(vendor, path.stem)


Answer = tuple[int, dict[str, str], Any]
Responder = Callable[[str, Any], Answer]


@dataclass
class ReplayServer:
    """A local HTTP server answering by rules; records what it was asked."""

    rules: list[tuple[str, re.Pattern[str], Responder]] = field(default_factory=list)
    seen: list[tuple[str, str, Any]] = field(default_factory=list)

    def on(self, method: str, path_pattern: str, responder: Responder) -> ReplayServer:
        self.rules.append((method, re.compile(path_pattern), responder))
        return self

    def app(self) -> Flask:
        app = Flask("vendor_replay")

        @app.route("/<path:path>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
        def answer(path: str) -> Response:
            body = request.get_json(silent=True)
            self.seen.append((request.method, "/" + path, body))
            for method, pattern, responder in self.rules:
                if method == request.method and pattern.fullmatch("/" + path):
                    status, headers, payload = responder("/" + path, body)
                    text = "" if payload is None else json.dumps(payload)
                    return Response(text, status=status, headers=headers, mimetype="application/json")
            return Response(
                json.dumps({"message": f"no replay rule for {request.method} /{path}"}), status=599
            )

        return app

    def serve(self) -> LocalServer:
        return LocalServer(self.app())

    def requests_to(self, path_pattern: str) -> list[Any]:
        pattern = re.compile(path_pattern)
        return [body for _, path, body in self.seen if pattern.fullmatch(path)]
