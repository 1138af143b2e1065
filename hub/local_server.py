"""Serve a WSGI app on loopback in a background thread: the sandbox fakes in `hub run` and tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from connectors import registry as connector_registry
from hub.config import DestinationConfig


class LocalServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"local-server-{port}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        # A line per request from a local fake is noise next to the hub's own delivery logs.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandboxes(
    destinations: Iterable[DestinationConfig], data_dir: Path | None = None
) -> tuple[list[LocalServer], dict[str, str]]:
    """Start the local fake of every destination that runs in sandbox mode: (servers, id -> URL).

    With `data_dir` (hub run), fakes that can keep their records do so under `<data_dir>/sandbox/`,
    so ids the hub remembers from a previous run still name records after a restart.
    """
    servers: list[LocalServer] = []
    urls: dict[str, str] = {}
    for destination in destinations:
        state_path = data_dir / "sandbox" / f"{destination.id}.sqlite" if data_dir is not None else None
        app = (
            connector_registry.sandbox_app(destination.type, destination.sandbox_options, state_path)
            if destination.sandbox
            else None
        )
        if app is not None:
            server = LocalServer(app).start()
            servers.append(server)
            urls[destination.id] = server.url
    return servers, urls
