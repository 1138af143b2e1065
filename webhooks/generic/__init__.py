"""Providers without code: a YAML definition says how to authenticate, read and map deliveries."""

from webhooks.generic.definition import Definition, load_definition
from webhooks.generic.provider import GenericProvider

__all__ = ["Definition", "GenericProvider", "load_definition"]
