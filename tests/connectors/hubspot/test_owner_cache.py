"""Owner emails without a HubSpot seat are remembered for a while only, and never in clear."""

from __future__ import annotations

from connectors.base import MemoryContext
from tests.connectors.hubspot.harness import make_connector


def test_no_owner_is_remembered_for_a_while_only_and_never_under_the_email(portal):
    context = MemoryContext()
    connector = make_connector(portal.url, context)
    asked: list[str] = []
    found: dict[str, str | None] = {"id": None}

    def owner_id(email: str) -> str | None:
        asked.append(email)
        return found["id"]

    connector.api.owner_id = owner_id  # type: ignore[method-assign]

    for _ in range(2):
        assert "hubspot_owner_id" not in connector._owner_resolver()(
            {"hubspot_owner_id": "New.Agent@Example.com"}
        )
    assert asked == ["new.agent@example.com"]
    assert not any("new.agent" in key for key in context.state)

    for value in context.state.values():
        value["at"] = 0.0  # ten minutes and more ago
    found["id"] = "7009"  # the agent got a HubSpot seat
    resolved = connector._owner_resolver()({"hubspot_owner_id": "new.agent@example.com"})

    assert resolved["hubspot_owner_id"] == "7009"
    assert len(asked) == 2
