"""callhub: receives call-tracking webhooks, normalizes them, delivers them to CRMs and analytics."""

__version__ = "0.1.0"
