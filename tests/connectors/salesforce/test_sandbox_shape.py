"""The sandbox org an admin shapes in hub.yaml (`sandbox:`), kept on disk across `hub run` restarts."""

from __future__ import annotations

from pathlib import Path

import requests

from connectors.base import Delivered, PermanentError
from connectors.salesforce import SalesforceConnector
from hub.check import check_offline
from hub.config import load_config
from hub.coordination import MemoryStateStore
from hub.core.records import RenderedRecord
from hub.local_server import start_sandboxes
from hub.settings import Settings
from tests.connectors.salesforce.calls import call, connector, hand_item

HUB_YAML = """version: 1
sources:
  - id: callrail
    provider: callrail
    secrets: ["${HUB_SECRET_CALLRAIL}"]
destinations:
  - id: salesforce
    type: salesforce
    credentials:
      consumer_key: ${SALESFORCE_CONSUMER_KEY}
    sandbox:
      picklists: true
      custom_fields:
        Lead:
          Lead_Score__c: {type: double}
          Call_Grade__c: {type: picklist, values: [A, B, C], restricted: true}
routes:
  - {from: callrail, to: [salesforce]}
"""


def _lead(score: float, grade: str) -> RenderedRecord:
    fields = {"Phone": "+14705550183", "LastName": "Vega", "Company": "Vega Homes",
              "Lead_Score__c": score, "Call_Grade__c": grade}  # fmt: skip
    return RenderedRecord("lead.yaml", "Lead", fields, ("Phone",), {"key_field": "Callhub_Caller_E164__c"})


def test_declared_custom_fields_work_end_to_end_and_the_org_survives_a_restart(
    tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "hub.yaml").write_text(HUB_YAML)
    settings = Settings.from_env(
        {"HUB_CONFIG": str(tmp_path / "hub.yaml"), "HUB_DATA_DIR": str(tmp_path), "HUB_ENV": "development"}
    )
    config = load_config(settings, {}, known_providers=["callrail"], known_destination_types=["salesforce"])
    state = MemoryStateStore()

    servers, urls = start_sandboxes(config.destinations.values(), tmp_path)
    try:
        first = connector(urls["salesforce"], redis_url, state).send(
            [hand_item("d1", call("CAL1"), _lead(7.5, "B"))]
        )
        describe = requests.get(f"{urls['salesforce']}/__fake__/records/Lead", timeout=5).json()["records"]
    finally:
        for server in servers:
            server.stop()
    assert isinstance(first.outcomes["d1"], Delivered), first.outcomes["d1"]
    [lead] = describe
    assert (lead["Lead_Score__c"], lead["Call_Grade__c"]) == (7.5, "B")
    assert (tmp_path / "sandbox" / "salesforce.sqlite").exists()

    # `hub run` again: the same org, so the Lead id the hub remembers still names the Lead.
    servers, urls = start_sandboxes(config.destinations.values(), tmp_path)
    try:
        again = connector(urls["salesforce"], redis_url, state).send(
            [hand_item("d2", call("CAL2"), _lead(9.0, "A"))]
        )
        leads = requests.get(f"{urls['salesforce']}/__fake__/records/Lead", timeout=5).json()["records"]
        refused = connector(urls["salesforce"], redis_url, state).send(
            [hand_item("d3", call("CAL3"), _lead(1.0, "Z"))]
        )
    finally:
        for server in servers:
            server.stop()
    outcome = again.outcomes["d2"]
    assert isinstance(outcome, Delivered), outcome
    assert [lead["Id"] for lead in leads] == [outcome.external_ids["Lead"]]
    assert leads[0]["Lead_Score__c"] == 9.0
    # The declared restricted picklist refuses a value it does not list, as the org would.
    rejected = refused.outcomes["d3"]
    assert isinstance(rejected, PermanentError), rejected
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Call_Grade__c: bad value" in rejected.message


def test_sandbox_settings_are_checked() -> None:
    problems = SalesforceConnector.sandbox_problems(
        {"custom_fields": {"Lead": {"Score": {"type": "double"}, "Grade__c": {"type": "enum"}}}, "colour": 1}
    )

    assert "unknown key 'colour' (known: custom_fields, picklists, soap_login, duplicate_key)" in problems
    assert "custom_fields: Lead.Score: a custom field's API name ends in __c" in problems
    assert any(p.startswith("custom_fields: Lead.Grade__c: type must be one of") for p in problems)
    assert SalesforceConnector.sandbox_problems({"picklists": True}) == []


def test_hub_check_reports_sandbox_problems_and_warns_about_soap(tmp_path: Path) -> None:
    text = HUB_YAML.replace("Lead_Score__c: {type: double}", "Lead_Score: {type: double}").replace(
        "    sandbox:\n", "    options: {auth: soap}\n    sandbox:\n"
    )
    (tmp_path / "hub.yaml").write_text(text)
    settings = Settings.from_env(
        {"HUB_CONFIG": str(tmp_path / "hub.yaml"), "HUB_DATA_DIR": str(tmp_path), "HUB_ENV": "development"}
    )

    _, report = check_offline(settings, generate_secrets=False)

    assert any("sandbox: custom_fields: Lead.Lead_Score: a custom field's API name ends in __c" in p
               for p in report.problems)  # fmt: skip
    assert any("warning: auth: soap: SOAP API login() is disabled by default" in n for n in report.notes)
