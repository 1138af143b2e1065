"""The `webhook` destination: the call as signed JSON to any HTTP(S) endpoint (Zapier, n8n, yours)."""

from connectors.webhook.connector import WebhookConnector

__all__ = ["WebhookConnector"]
