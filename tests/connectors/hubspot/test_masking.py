"""Recorded exchanges never hold a caller's number: mapped match properties, national numbers, echoes."""

from __future__ import annotations

import json

from connectors.hubspot.transport import masked_body, recording


def test_mapped_match_properties_and_national_numbers_are_masked():
    search = {
        "filterGroups": [
            {"filters": [{"propertyName": "work_phone", "operator": "IN", "values": ["4155550100"]}]}
        ]
    }
    with recording(frozenset({"work_phone"})):
        assert "4155550100" not in masked_body(json.dumps(search))
    echoed = {"status": "error", "message": "Property values were not valid: (415) 555-0100 is not a number"}
    assert "555-0100" not in masked_body(json.dumps(echoed))
    read = {"idProperty": "callhub_caller_e164", "inputs": [{"id": "+14155550100"}], "properties": ["phone"]}
    assert "4155550100" not in masked_body(json.dumps(read))
