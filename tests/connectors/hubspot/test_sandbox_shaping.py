"""An admin shapes the sandbox portal from hub.yaml's `sandbox:` key (custom properties, no unique
values on calls, per-record batch answers), and the sandbox keeps its records across restarts so
the ids the hub remembers still name records."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import Delivered, DeliveryItem, PermanentError
from connectors.hubspot import HubSpotConnector
from connectors.hubspot.fake import create_app, fake_of
from hub.core.events import Outcome
from hub.local_server import LocalServer
from hub.mapping import lint_against_schema, load_mapping
from tests.connectors.hubspot.harness import ROOT, TOKEN, call_event, item_for, make_connector, shared_context

SCORE = {"contacts": [{"name": "callhub_lead_score", "type": "number"}]}


def _scored_mapping(tmp_path: Path):
    text = (ROOT / "mappings" / "hubspot" / "contact.yaml").read_text()
    path = tmp_path / "contact.yaml"
    path.write_text(text + "  callhub_lead_score: {from: outcome.value, transform: number}\n")
    return load_mapping(path, connector=HubSpotConnector)


def _with_score(event, tmp_path: Path) -> DeliveryItem:
    item = item_for(event)
    contact = _scored_mapping(tmp_path).render(event)
    records = [contact if record.target == "contacts" else record for record in item.records]
    return dataclasses.replace(item, records=records)


def test_a_declared_custom_property_lets_a_new_mapping_field_run_end_to_end(tmp_path, redis_url):
    event = call_event(outcome=Outcome(value=Decimal("42")))
    with LocalServer(create_app(access_token=TOKEN, properties=SCORE)) as server:
        connector = make_connector(server.url, shared_context(redis_url))
        schema = connector.describe("contacts")
        assert schema is not None
        assert lint_against_schema(_scored_mapping(tmp_path), schema) == []

        outcome = connector.deliver([_with_score(event, tmp_path)]).outcomes["dlv-call-1-call.completed"]

        assert isinstance(outcome, Delivered), outcome
        [contact] = fake_of(server.app).store.records("contacts")
        assert float(contact["properties"]["callhub_lead_score"]) == 42


def test_without_the_declaration_the_sandbox_refuses_the_field_as_hubspot_would(tmp_path, redis_url):
    event = call_event(outcome=Outcome(value=Decimal("42")))
    with LocalServer(create_app(access_token=TOKEN)) as server:
        connector = make_connector(server.url, shared_context(redis_url))

        outcome = connector.deliver([_with_score(event, tmp_path)]).outcomes["dlv-call-1-call.completed"]

    assert isinstance(outcome, PermanentError)
    assert "callhub_lead_score" in outcome.message


def test_sandbox_settings_are_checked():
    assert HubSpotConnector.sandbox_problems({"properties": SCORE, "unique_calls": False}) == []
    problems = HubSpotConnector.sandbox_problems(
        {
            "properties": {
                "deals": [],
                "contacts": [{"name": "Bad Name", "type": "money"}, {"name": "x", "type": "enumeration"}],
            },
            "batch_errors": "sometimes",
            "colour": "blue",
        }
    )
    text = "\n".join(problems)
    for expected in (
        "sandbox.colour",
        "batch_errors",
        "properties.deals",
        "lower case",
        "type must be",
        "needs `options`",
    ):
        assert expected in text, problems


def test_the_sandbox_keeps_its_records_across_restarts(tmp_path, redis_url):
    state = tmp_path / "sandbox" / "hubspot.sqlite"
    context = shared_context(redis_url)
    event = call_event()
    with LocalServer(create_app(access_token=TOKEN, state_path=str(state))) as server:
        first = (
            make_connector(server.url, context)
            .deliver([item_for(event)])
            .outcomes["dlv-call-1-call.completed"]
        )
    assert isinstance(first, Delivered), first

    # `hub run` again: a new fake on the same file, the hub with the ids it remembered.
    with LocalServer(create_app(access_token=TOKEN, state_path=str(state))) as server:
        update = item_for(dataclasses.replace(event, kind="call.updated"), attempt=2)
        again = make_connector(server.url, context).deliver([update]).outcomes[update.delivery_id]
        store = fake_of(server.app).store
        contacts, calls = store.records("contacts"), store.records("calls")

    assert isinstance(again, Delivered), again
    assert again.external_ids == first.external_ids
    assert [c["id"] for c in contacts] == [first.external_ids["contacts"]]
    assert [c["id"] for c in calls] == [first.external_ids["calls"]]
    assert calls[0]["associations"] == {"contacts": [first.external_ids["contacts"]]}


@pytest.mark.parametrize(
    ("unique_calls", "expected"),
    [
        (True, "unique values on calls: available (calls upserted on 'callhub_call_id')"),
        (False, "unique values on calls: not available (calls found by remembered id, then a search"),
    ],
)
def test_check_reports_whether_the_portal_gives_unique_values_on_calls(redis_url, unique_calls, expected):
    with LocalServer(create_app(access_token=TOKEN, unique_calls=unique_calls)) as server:
        result = make_connector(server.url, shared_context(redis_url)).check()

    assert result.ok, result
    assert expected in result.detail
    assert "custom property 'callhub_last_call_at' present" in result.detail


HUB_YAML = """version: 1
sources:
  - id: callrail
    provider: callrail
    secrets: ["${HUB_SECRET_CALLRAIL}"]
destinations:
  - id: hubspot
    type: hubspot
    credentials:
      access_token: ${HUBSPOT_ACCESS_TOKEN}
    sandbox:
      unique_calls: false
      properties:
        contacts:
          - {name: callhub_lead_score, type: number}
  - id: ga4
    type: ga4
    credentials:
      measurement_id: ${GA4_MEASUREMENT_ID}
routes:
  - {from: callrail, to: [hubspot, ga4]}
"""


def test_hub_yaml_shapes_the_sandbox_and_hub_run_keeps_it(tmp_path, redis_url):
    from hub.config import load_config
    from hub.local_server import start_sandboxes
    from hub.settings import Settings

    (tmp_path / "hub.yaml").write_text(HUB_YAML)
    settings = Settings.from_env(
        {"HUB_CONFIG": str(tmp_path / "hub.yaml"), "HUB_DATA_DIR": str(tmp_path), "HUB_ENV": "development"}
    )
    config = load_config(
        settings, {}, known_providers=["callrail"], known_destination_types=["hubspot", "ga4"]
    )
    context = shared_context(redis_url)
    event = call_event(outcome=Outcome(value=Decimal("42")))

    servers, urls = start_sandboxes(config.destinations.values(), tmp_path)
    try:
        connector = make_connector(urls["hubspot"], context)
        detail = connector.check().detail
        first = connector.deliver([_with_score(event, tmp_path)]).outcomes["dlv-call-1-call.completed"]
    finally:
        for server in servers:
            server.stop()
    assert "unique values on calls: not available" in detail
    assert isinstance(first, Delivered), first
    assert (tmp_path / "sandbox" / "hubspot.sqlite").exists()

    servers, urls = start_sandboxes(config.destinations.values(), tmp_path)
    try:
        update = item_for(dataclasses.replace(event, kind="call.updated"), attempt=2)
        again = make_connector(urls["hubspot"], context).deliver([update]).outcomes[update.delivery_id]
    finally:
        for server in servers:
            server.stop()
    assert isinstance(again, Delivered), again
    assert again.external_ids == first.external_ids, "the remembered ids still name the same records"


def test_hub_check_refuses_bad_hubspot_sandbox_settings(tmp_path):
    from hub.check import check_offline
    from hub.settings import Settings

    (tmp_path / "hub.yaml").write_text(HUB_YAML.replace("unique_calls: false", "unique_calls: sometimes"))
    settings = Settings.from_env(
        {"HUB_CONFIG": str(tmp_path / "hub.yaml"), "HUB_DATA_DIR": str(tmp_path), "HUB_ENV": "development"}
    )

    _, report = check_offline(settings, generate_secrets=False)

    assert any("sandbox.unique_calls must be true or false" in problem for problem in report.problems), report
