"""The local receiver of the `webhook` destination: `create_app(**options)` records signed
deliveries and serves the `/__fake__/` control API."""

from connectors.webhook.fake.app import create_app

__all__ = ["create_app"]
