"""The local Salesforce: `create_app(**options)` serves login, REST and the `/__fake__/` control API."""

from connectors.salesforce.fake.app import create_app

__all__ = ["create_app"]
