"""A fault every local fake offers: the write is carried out, then its answer is lost.

What a client sees when a load balancer times out, a connection resets or a process restarts
after the vendor committed: no response at all, although the record exists. Clients retry, so a
connector that cannot recognise its own earlier write creates a duplicate. Salesforce documents
this case for its REST API ("if the client doesn't receive a response, the request may or may
not have been processed": https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm);
HubSpot's batch docs likewise advise idempotent retries after timeouts.

Switched through the fake's control API: `POST /__fake__/lose_responses {"rate": 0.1, "seed": 7}`
loses that share of writes (POST, PUT, PATCH, DELETE outside /__fake__); `{"rate": 0}` stops it;
`GET /__fake__/lose_responses` tells how many answers were lost.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from connectors.base import FAKE_CONTROL_PREFIX

CONTROL_PATH = f"{FAKE_CONTROL_PREFIX}/lose_responses"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

StartResponse = Callable[..., Any]


class LosableResponses:
    """WSGI middleware: a chosen share of write requests runs to completion, then the connection
    is closed without an answer (the development server drops it silently)."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.rate = 0.0
        self.lost = 0
        self._random = random.Random()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == CONTROL_PATH:
            return self._control(environ, start_response)
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method not in _WRITES or path.startswith(FAKE_CONTROL_PREFIX) or not self._lose():
            return self.app(environ, start_response)
        answer = self.app(environ, lambda *args, **kwargs: lambda _data: None)
        try:
            for _chunk in answer:  # the write completes in full before its answer is lost
                pass
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        with self._lock:
            self.lost += 1
        connection = environ.get("werkzeug.socket")
        if isinstance(connection, socket.socket):
            with contextlib.suppress(OSError):  # the client may have gone already
                connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("answer lost on purpose (fake fault)")

    def _lose(self) -> bool:
        with self._lock:
            return self.rate > 0 and self._random.random() < self.rate

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("REQUEST_METHOD", "GET")).upper() == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                data = json.loads(environ["wsgi.input"].read(length) or b"{}")
                rate = float(data.get("rate", 0))
            except (ValueError, TypeError, AttributeError):
                start_response("400 BAD REQUEST", [("Content-Type", "application/json")])
                return [b'{"error": "expected {\\"rate\\": 0..1, \\"seed\\": n}"}']
            with self._lock:
                self.rate = min(max(rate, 0.0), 1.0)
                if data.get("seed") is not None:
                    self._random.seed(data["seed"])
        with self._lock:
            body = json.dumps({"rate": self.rate, "lost": self.lost}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
