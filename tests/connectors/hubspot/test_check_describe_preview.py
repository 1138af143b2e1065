"""check, describe, preview and the option checks of the HubSpot connector.

What every connector must do (check, classify, preview, replay, masking) is in tests/connectors/test_contract.py."""

from __future__ import annotations

from connectors.base import MemoryContext
from connectors.hubspot import HubSpotConnector
from connectors.hubspot.fake.faults import Fault
from tests.connectors.hubspot.harness import call_event, item_for, make_connector, shared_context


def test_check_proves_the_token_and_the_portal_setup(portal, redis_url):
    result = make_connector(portal.url, shared_context(redis_url)).check()

    assert result.ok, result
    assert "accepted the access token" in result.detail


def test_check_names_the_properties_to_create(portal_factory, redis_url):
    portal = portal_factory(custom_properties=False)

    result = make_connector(portal.url, shared_context(redis_url)).check()

    assert not result.ok
    assert any("callhub_caller_e164" in problem for problem in result.problems)
    assert any("callhub_call_id" in problem for problem in result.problems)


def test_check_with_a_bad_token_says_so(portal, redis_url):
    result = make_connector(portal.url, shared_context(redis_url), token="pat-na1-wrong").check()

    assert not result.ok
    assert "access token" in result.detail


def test_check_when_hubspot_is_down(portal, redis_url):
    portal.fake.faults.add(Fault("status", status=503, times=-1))

    result = make_connector(portal.url, shared_context(redis_url)).check()

    assert not result.ok
    assert "503" in result.detail


def test_describe_reads_the_properties_api(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))

    contacts = connector.describe("contacts")
    calls = connector.describe("calls")

    assert contacts is not None
    assert calls is not None
    assert contacts.fields["hs_analytics_source"].createable is False
    assert "CONNECTED" in (contacts.fields["hs_lead_status"].picklist or ())
    assert contacts.fields["callhub_gclid"].type == "string"
    assert calls.fields["hs_timestamp"].required
    assert "INBOUND" in (calls.fields["hs_call_direction"].picklist or ())
    assert connector.describe("deals") is None


def test_preview_shows_the_requests_without_sending(portal, redis_url):
    connector = make_connector(portal.url, MemoryContext())

    planned = connector.preview(item_for(call_event()))

    assert [(p.method, p.url) for p in planned] == [
        ("POST", "/crm/v3/objects/contacts/search"),
        ("POST", "/crm/v3/objects/contacts/batch/create"),
        ("POST", "/crm/v3/objects/calls/batch/upsert"),
        ("POST", "/crm/v4/associations/call/contact/batch/associate/default"),
    ]
    assert portal.requests() == 0


def test_option_problems():
    assert HubSpotConnector.option_problems({}) == []
    assert HubSpotConnector.option_problems({"duplicates": "hold", "max_in_values": 50}) == []
    problems = HubSpotConnector.option_problems({"duplicates": "first", "default_region": "XX", "colour": 1})
    assert len(problems) == 3
    # Rate limits are hub.yaml's own `rate_limit` / `rate_limits` keys, not connector options.
    assert HubSpotConnector.option_problems({"rate_limits": {"search": {"requests": 5}}}) == [
        "unknown HubSpot option 'rate_limits'; known: call_idempotency, call_key_property, contact_key_property, default_region, duplicates, max_in_values, search_lag_s"
    ]


def test_mapping_problems():
    assert HubSpotConnector.mapping_problems("contacts", {"create_only": ["firstname"]}) == []
    assert HubSpotConnector.mapping_problems("calls", {"dispositions": {"answered": "Connected"}}) == []
    assert HubSpotConnector.mapping_problems("deals", {}) != []
    problems = HubSpotConnector.mapping_problems(
        "calls", {"dispositions": {"answered": "Happy", "ringing_out": "Busy"}}
    )
    assert len(problems) == 2
    assert HubSpotConnector.mapping_problems("contacts", {"dispositions": {}}) != []


def test_loading_a_mapping_checks_the_hubspot_options(tmp_path):
    import pytest

    from hub.core.errors import ConfigError
    from hub.mapping import load_mapping

    path = tmp_path / "call.yaml"
    path.write_text(
        "version: 1\nobject: calls\noptions:\n  dispositions: {answered: Delighted}\n"
        "fields:\n  hs_call_title: {value: Call}\n"
    )
    with pytest.raises(ConfigError, match="Delighted"):
        load_mapping(path, connector=HubSpotConnector)


def test_messages_never_carry_a_number_in_clear():
    from connectors.hubspot.errors import record_error

    error = record_error("VALIDATION_ERROR", "+14155550100 is not a valid value for callhub_caller_e164")

    assert "4155550100" not in error.message
    assert "***00" in error.message


def test_shipped_mappings_pass_the_online_check_against_the_fake(portal, redis_url):
    from hub.mapping import lint_against_schema
    from tests.connectors.hubspot.harness import shipped_mappings

    connector = make_connector(portal.url, shared_context(redis_url))

    for mapping in shipped_mappings():
        schema = connector.describe(mapping.target)
        assert schema is not None
        assert lint_against_schema(mapping, schema) == [], mapping.path


def test_a_429_on_a_read_is_reported_not_slept_on(portal, redis_url):
    portal.fake.faults.add(
        Fault("status", status=429, category="RATE_LIMITS", message="limit", retry_after="30", times=-1)
    )

    result = make_connector(portal.url, shared_context(redis_url)).check()

    assert not result.ok
    assert "429" in result.detail
    assert portal.requests() == 1
