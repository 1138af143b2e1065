"""GA4 parameter names GA would reject are refused when the mapping loads, with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.ga4 import GA4Connector
from hub.core.errors import ConfigError
from hub.mapping import load_mapping


def test_reserved_and_malformed_param_names_are_load_errors(tmp_path: Path) -> None:
    path = tmp_path / "phone_call.yaml"
    path.write_text(
        "version: 1\n"
        "event: phone_call\n"
        "fields:\n"
        "  client_id: {from: attribution.ga_client_id}\n"
        "  params.firebase_conversion: {from: attribution.gclid}\n"
        "  params.ga_campaign: {from: attribution.campaign}\n"
        "  params.call-source: {from: attribution.source}\n"
        "  user_properties.first_open_time: {value: x}\n"
        "  params.call_campaign: {from: attribution.campaign}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_mapping(path, connector=GA4Connector)
    problems = caught.value.problems
    assert any(f"{path}:5: fields.params.firebase_conversion" in p and "reserves" in p for p in problems), (
        problems
    )
    assert any(f"{path}:6: fields.params.ga_campaign" in p for p in problems), problems
    assert any(
        f"{path}:7: fields.params.call-source" in p and "letters, digits and underscores" in p
        for p in problems
    )
    assert any(f"{path}:8: fields.user_properties.first_open_time" in p for p in problems), problems
    assert not any("call_campaign" in p for p in problems)
