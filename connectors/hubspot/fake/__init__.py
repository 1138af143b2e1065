"""The local HubSpot portal: `create_app(**options)` serves CRM v3/v4 and the `/__fake__/` control API."""

from connectors.hubspot.fake.app import FakeHubSpot, create_app, fake_of

__all__ = ["FakeHubSpot", "create_app", "fake_of"]
