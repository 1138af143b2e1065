"""Inbound providers: one module (or package) per call-tracking provider, found by the registry."""
