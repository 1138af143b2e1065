from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.hubspot.fake import FakeHubSpot, create_app, fake_of
from hub.local_server import LocalServer
from tests.connectors.hubspot.harness import TOKEN


class Portal:
    """A running fake HubSpot portal: its URL and its state."""

    def __init__(self, server: LocalServer, fake: FakeHubSpot) -> None:
        self.server = server
        self.fake = fake

    @property
    def url(self) -> str:
        return self.server.url

    def records(self, object_type: str) -> list[dict[str, Any]]:
        return self.fake.store.records(object_type)

    def requests(self) -> int:
        return int(self.fake.stats()["requests"])


@pytest.fixture
def portal_factory() -> Iterator[Callable[..., Portal]]:
    started: list[LocalServer] = []

    def start(**options: Any) -> Portal:
        # Seeded records are searchable at once unless a test asks for HubSpot's index lag.
        app = create_app(**{"access_token": TOKEN, "search_lag_s": 0.0, **options})
        server = LocalServer(app).start()
        started.append(server)
        return Portal(server, fake_of(app))

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def shared_portal() -> Iterator[Portal]:
    # Limits and the search index's lag out of the way: tests that exercise them start their own portal.
    app = create_app(access_token=TOKEN, rate_limit=100_000, search_rate_limit=100_000, search_lag_s=0.0)
    with LocalServer(app) as server:
        yield Portal(server, fake_of(app))


@pytest.fixture
def portal(shared_portal: Portal) -> Portal:
    """A fresh, empty portal for each test (one server for the session)."""
    shared_portal.fake.reset()
    return shared_portal
