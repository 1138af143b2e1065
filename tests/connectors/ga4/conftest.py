from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from connectors.ga4.fake import create_app, sandbox_state
from connectors.ga4.fake.state import SandboxState
from hub.local_server import LocalServer
from tests.connectors.ga4.calls import clock


@pytest.fixture(scope="module")
def _ga4_server() -> Iterator[LocalServer]:
    # One fake per module, emptied before each test: stopping a server costs half a second.
    with LocalServer(create_app(clock=clock, property_id="123456789")) as server:
        yield server


@pytest.fixture
def ga4_app(_ga4_server: LocalServer) -> Flask:
    app: Flask = _ga4_server.app
    sandbox_state(app).reset()
    return app


@pytest.fixture
def ga4_url(_ga4_server: LocalServer, ga4_app: Flask) -> str:
    return _ga4_server.url


@pytest.fixture
def recorded(ga4_app: Flask) -> SandboxState:
    return sandbox_state(ga4_app)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()
