"""HubSpot's history masking: numbers named in one field and given in another."""

from __future__ import annotations

import json

from connectors.hubspot.transport import matching, recorder


def test_search_values_on_mapped_match_properties_are_masked() -> None:
    # Seven digits: too short to be taken for a number in free text, so only the filter says so.
    search = {
        "filterGroups": [
            {"filters": [{"propertyName": "alt_contact", "operator": "IN", "values": ["5550100"]}]}
        ]
    }
    with matching(frozenset({"alt_contact"})):
        assert "5550100" not in recorder(None).body(json.dumps(search))
    # Outside a send matching on it, the property is an ordinary one.
    assert "5550100" in recorder(None).body(json.dumps(search))


def test_numbers_echoed_in_messages_and_read_by_unique_property_are_masked() -> None:
    echoed = {"status": "error", "message": "Property values were not valid: (415) 555-0100 is not a number"}
    assert "555-0100" not in recorder(None).body(json.dumps(echoed))
    read = {"idProperty": "callhub_caller_e164", "inputs": [{"id": "+14155550100"}], "properties": ["phone"]}
    body = recorder(None).body(json.dumps(read))
    assert "4155550100" not in body
    assert '"properties":["phone"]' in body


def test_the_access_token_never_appears() -> None:
    token = "pat-na1-0123456789abcdef"
    body = recorder(token).body(json.dumps({"message": f"token {token} expired"}))
    assert token not in body
    assert "[secret]" in body
