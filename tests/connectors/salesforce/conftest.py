from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.salesforce.fake import create_app
from hub.local_server import LocalServer
from tests.connectors.salesforce.calls import AGENT, CAMPAIGN


class FakeOrg:
    """The fake Salesforce's control API, as tests use it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(f"{self.url}/__fake__/{path}", json=body or {})
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._post("reset")

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.url}/__fake__/records/{sobject}").json()["records"])

    def seed(self, sobject: str, **fields: Any) -> str:
        return str(self._post(f"records/{sobject}", fields)["id"])

    def convert(self, lead_id: str) -> str:
        return str(self._post("convert", {"lead_id": lead_id})["contact_id"])

    def fault(self, error: str, **options: Any) -> None:
        self._post("faults", {"error": error, **options})

    def duplicate_rules(self, **active: bool) -> None:
        self._post("duplicate_rules", dict(active))

    def org(self, **switches: Any) -> dict[str, Any]:
        """Setup switches: soap_login, picklists, duplicate_key."""
        return dict(self._post("org", switches))

    def search_lag(self, enabled: bool = True) -> None:
        self._post("search_lag", {"enabled": enabled})

    def usage(self, used: int, limit: int) -> None:
        self._post("usage", {"used": used, "limit": limit})

    def requests(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/__fake__/requests").json())

    def api_requests(self) -> int:
        return int(self.requests()["api_requests"])


@pytest.fixture(scope="module")
def fake_server() -> Iterator[LocalServer]:
    app = create_app(users=[{"Email": AGENT, "LastName": "Brooks"}], campaigns=[CAMPAIGN])
    with LocalServer(app) as server:
        yield server


@pytest.fixture
def fake(fake_server: LocalServer) -> Iterator[FakeOrg]:
    org = FakeOrg(fake_server.url)
    org.reset()
    org.org(picklists=False, soap_login=False, duplicate_key="duplicateResult")
    yield org
    org.http.close()
