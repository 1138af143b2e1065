"""Finding a destination type's connector class."""

from __future__ import annotations

import pytest

from connectors import registry
from hub.core.errors import ConfigError


def test_a_connector_class_is_found_once_and_then_remembered() -> None:
    first = registry.connector_class("webhook")
    assert first.type == "webhook"
    assert registry.connector_class("webhook") is first
    assert {registry.connector_class(name).type for name in registry.types()} == set(registry.types())


def test_an_unknown_type_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ConfigError, match="unknown destination type 'fax'"):
            registry.connector_class("fax")
