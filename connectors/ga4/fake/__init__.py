"""The local GA4: `create_app(**options)` serves the Measurement Protocol, the Data API and the
`/__fake__/` control API."""

from connectors.ga4.fake.app import create_app, sandbox_state

__all__ = ["create_app", "sandbox_state"]
