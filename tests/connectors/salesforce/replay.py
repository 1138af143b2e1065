"""Salesforce's own recorded answers, served in front of the fake to the real simple-salesforce client.

A fixture (tests/fixtures/vendors/salesforce/*.json) names its source, the request it answers
(method and a path fragment) and the recorded status and body. The first matching request gets the
recording; everything else reaches the fake org, so a whole delivery runs around one vendor answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors" / "salesforce"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert loaded.get("source", "").startswith("https://"), f"{name}: every recording names its source"
    return loaded


class Replay:
    """WSGI middleware: answers the first request matching `recording`, passes the rest to `app`."""

    def __init__(self, app: WsgiApp, recording: dict[str, Any], times: int = 1) -> None:
        self.app = app
        self.recording = recording
        self.remaining = times
        self.served = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = self.recording["match"]
        if (
            self.remaining > 0
            and environ.get("REQUEST_METHOD") == match["method"]
            and match["path"] in str(environ.get("PATH_INFO", ""))
        ):
            self.remaining -= 1
            self.served += 1
            body = json.dumps(self.recording["body"]).encode()
            status = int(self.recording["status"])
            start_response(f"{status} {'OK' if status < 400 else 'Error'}",
                           [("Content-Type", "application/json;charset=UTF-8"),
                            ("Content-Length", str(len(body)))])  # fmt: skip
            return [body]
        return self.app(environ, start_response)
