"""Session-wide services for the suite: a real redis-server, no network beyond loopback."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hub.redis_server import RedisServer, free_port

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True, scope="session")
def _no_internet() -> Iterator[None]:
    """A test that reaches beyond this machine fails instead of depending on the network."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
            raise ConnectionRefusedError(f"tests must not use the network (tried {address})")
        return real_connect(self, address)  # type: ignore[arg-type]

    socket.socket.connect = guarded  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean Redis database for one test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.close()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def pytest_report_header() -> list[str]:
    return [f"TEST_DATABASE_URL={'set' if os.environ.get('TEST_DATABASE_URL') else 'unset'}"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs on SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    from tests.hubkit import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def hub(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[object]:
    from tests.hubkit import make_hub

    with make_hub(tmp_path, redis_url, database_url) as instance:
        yield instance
