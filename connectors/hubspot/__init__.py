"""HubSpot destination: contacts matched by phone, one call engagement per call, a local fake beside it."""

from connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
