"""Destination connectors: one package per destination type, found by the registry."""
